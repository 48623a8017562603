"""Files for other systems, read back from the target database after a batch (``handover export ...``)."""
