"""Neural components of SideJPEG, one module per component of the method."""
