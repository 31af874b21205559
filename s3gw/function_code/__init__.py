"""The function's code, zipped by s3gw.package. Only handler.py is shipped."""
