# Three customer-managed keys, each rotated yearly, so that who may read what is decided per
# kind of data rather than by one key that opens everything:
#
# - app: what the shop itself reads, the product images and its secret. The shop's role may
#   use this key and no other, and only through S3 and Secrets Manager.
# - data: the databases (RDS, DocumentDB, ElastiCache), their backups and Performance Insights,
#   the Kubernetes secrets in EKS' etcd, and the Redis auth token's secret.
# - logs: the CloudWatch log groups. CloudWatch Logs encrypts with the key itself, so its key
#   policy lets that service in, for this account's log groups only.
#
# Each key policy starts with the account's root, which hands the decisions to IAM: a key is
# never locked out, and what a role may do with it is in that role's policy. (In a key policy
# `Resource = "*"` means the key itself.)

locals {
  key_admin_statement = {
    Sid       = "AccountAdministersThroughIam"
    Effect    = "Allow"
    Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
    Action    = "kms:*"
    Resource  = "*"
  }
}

resource "aws_kms_key" "app" {
  description             = "${local.name}: product images and the app's secret"
  enable_key_rotation     = true
  deletion_window_in_days = 30

  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [local.key_admin_statement]
  })
}

resource "aws_kms_alias" "app" {
  name          = "alias/${local.name}-app"
  target_key_id = aws_kms_key.app.key_id
}

resource "aws_kms_key" "data" {
  description             = "${local.name}: databases, their backups, EKS secrets"
  enable_key_rotation     = true
  deletion_window_in_days = 30

  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [local.key_admin_statement]
  })
}

resource "aws_kms_alias" "data" {
  name          = "alias/${local.name}-data"
  target_key_id = aws_kms_key.data.key_id
}

resource "aws_kms_key" "logs" {
  description             = "${local.name}: CloudWatch log groups"
  enable_key_rotation     = true
  deletion_window_in_days = 30

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      local.key_admin_statement,
      {
        Sid       = "CloudWatchLogsEncryptsThisAccountsLogGroups"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action = [
          "kms:Decrypt",
          "kms:DescribeKey",
          "kms:Encrypt",
          "kms:GenerateDataKey*",
          "kms:ReEncrypt*",
        ]
        Resource = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:*"
          }
        }
      },
    ]
  })
}

resource "aws_kms_alias" "logs" {
  name          = "alias/${local.name}-logs"
  target_key_id = aws_kms_key.logs.key_id
}
