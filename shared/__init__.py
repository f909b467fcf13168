"""What the store gateway (edge) and the cloud service share, and nothing else.

The wire contract (`contract`), the MQTT transport (`mqtt`), one reconnect `backoff`, GS1 codes
(`gs1`), the alerting engine (`alerting`), request schemas and the OpenAPI document (`openapi`),
config-table checks (`toml_tables`), metrics and logs. Nothing here imports edge, cloud or a device
driver (sllurp, pymodbus, pyserial, OpenCV, onnxruntime): the import contracts in pyproject.toml
keep it so, and a cloud install carries none of those libraries.
"""
