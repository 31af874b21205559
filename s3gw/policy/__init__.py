"""IAM policies: the documents s3gw writes (s3gw.policy.documents) and the evaluator that judges them
(s3gw.policy.evaluator), for `verify` and the sandbox. Import from those modules: this package holds no names."""
