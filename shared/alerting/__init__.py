"""The alerting engine both the gateway and the cloud run: rules (pure), the alert book, delivery."""
