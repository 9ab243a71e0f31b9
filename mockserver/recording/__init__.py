"""Recording real traffic (`mockserver record`), turning it into fixtures (`fixtures-from`) and comparing the fake
with it (`drift`). The on-disk format is in `exchanges.py`; what is kept secret in `redact.py`."""
