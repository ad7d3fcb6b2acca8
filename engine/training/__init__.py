"""Training of SideJPEG models (``sidejpeg train``)."""
