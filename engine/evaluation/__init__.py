"""Rate-distortion evaluation of SideJPEG against JPEG anchors (see DESIGN.md, "Evaluation protocol")."""
