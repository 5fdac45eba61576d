"""Feature inverters for SVDNet's eight hidden layers (Mishra, Sturm & Dixon, ISMIR 2018)."""
