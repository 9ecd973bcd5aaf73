"""Software-defined assets: thin layers over ``loading`` and ``reporting``."""
