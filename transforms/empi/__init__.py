"""Patient master index (EMPI): link patient records across institutions into one id per person."""
