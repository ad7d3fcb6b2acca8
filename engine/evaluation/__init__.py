"""Rate-distortion evaluation of SideJPEG against JPEG anchors: PSNR on 8-bit RGB over the whole image, bpp of
all bytes sent, BD-rate against plain JPEG and blind decoding, and the change against the JPEG per image."""
