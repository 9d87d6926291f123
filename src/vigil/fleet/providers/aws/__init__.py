"""The `aws` provider: EC2 instances discovered through boto3, scanned agentlessly from EBS snapshots."""
