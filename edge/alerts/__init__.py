"""Staff alerts on the gateway: its device observations fed to the shared alerting engine
(shared/alerting), backroom stock from RFID presence, and the staff page for phones."""
