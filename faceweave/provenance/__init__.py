"""Every output labelled as AI-generated: the label (XMP/EXIF/PNG text, video tags), the invisible watermark, C2PA."""
