# The app's secret (secrets.aws_secret_id): one JSON object in Secrets Manager, encrypted with
# the app key, whose keys are the app's own configuration keys, so the app lays it over its
# configuration as it is. Everything in it is generated here or comes from the data stores
# created here; none of it is in a tfvars file or an output. The values also sit in the
# Terraform state, which is why the state is in an encrypted S3 bucket only the platform
# team reads (../README.md).

resource "random_password" "jwt" {
  length  = 64
  special = false
}

# Step 1's key ring: k1 seals new values (APP__SECURITY__ENCRYPTION__ACTIVE_KEY=k1 is in the
# ConfigMap). 32 random bytes, base64, as the app expects.
resource "random_bytes" "encryption_key_k1" {
  length = 32
}

locals {
  postgres_credentials = "shop:${random_password.postgres.result}"
  docdb_credentials    = "shop:${random_password.docdb.result}"

  # Configuration key => value. TLS and the CA are set by managed.* (outputs.tf: app_settings),
  # so the URLs carry no TLS options of their own, except DocumentDB's replica set and read
  # preference, which are part of where to connect.
  app_secret = {
    "auth.jwt_secret"             = random_password.jwt.result
    "security.encryption.keys.k1" = random_bytes.encryption_key_k1.base64
    "postgres.url"                = "postgres://${local.postgres_credentials}@${aws_db_instance.primary.endpoint}/shop"
    "replica.url"                 = "postgres://${local.postgres_credentials}@${aws_db_instance.replica.endpoint}/shop"
    "redis.url"                   = "rediss://:${random_password.redis_auth.result}@${aws_elasticache_replication_group.redis.primary_endpoint_address}:6379"
    "mongodb.uri"                 = "mongodb://${local.docdb_credentials}@${aws_docdb_cluster.main.endpoint}:27017/?replicaSet=rs0&readPreference=secondaryPreferred&retryWrites=false"
  }
}

resource "aws_secretsmanager_secret" "app" {
  #checkov:skip=CKV2_AWS_57:its values are the data stores passwords and the JWT secret, which no rotation function here could change in the stores; they are rotated by replacing their random_password in a planned apply (../README.md)
  name                    = "${local.name}/app"
  description             = "The ${local.name} shop's secrets: JWT secret, encryption key, data store URLs"
  kms_key_id              = aws_kms_key.app.arn
  recovery_window_in_days = 30
}

resource "aws_secretsmanager_secret_version" "app" {
  secret_id     = aws_secretsmanager_secret.app.id
  secret_string = jsonencode(local.app_secret)
}
