"""HL7 v2 over MLLP: the listener, its write-ahead file, landing in bronze and folding into silver."""
