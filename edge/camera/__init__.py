"""Shelf cameras: frames over HTTP/RTSP/USB, the ONNX lane counter, and the `camera count` command."""
