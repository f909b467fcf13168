"""Weight shelves over Modbus RTU/TCP: register maps, the poller, the stable-to-stable detector and
the calibration command."""
