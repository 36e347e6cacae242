"""Whole rounds through read, harmonise and refresh, against INEI's own files and figures."""
