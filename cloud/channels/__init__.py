"""Channels: what each sales channel may sell, and pushing it to the channel's platform."""
