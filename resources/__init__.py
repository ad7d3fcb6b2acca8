"""Files SideJPEG ships: the trained weights with their model card and results (``models/``) and the sample
image (``samples/``). A package so that they install with the code; ``engine.resources`` finds them."""
