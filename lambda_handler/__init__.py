"""The function's code, zipped by s3gw.package; installed as s3gw.lambda_handler. Only handler.py is shipped."""
