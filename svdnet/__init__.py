"""SVDNet: the singing-voice detector of Schlueter & Grill (ISMIR 2015), in PyTorch."""
