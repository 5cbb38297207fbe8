# What the app's configuration and the cluster's manifests need from here. `app_settings` is
# the non-secret part of the app's configuration, key by key (as APP__* variables in
# `app_environment`, ready for the ConfigMap); the secret part is in the secret
# `app_secret_arn` names, never in an output.

locals {
  # The managed.* and storage.backend values are the aws profile's own
  # (steps/step08-cloud/profiles/aws.toml), repeated so these outputs are the whole of what the
  # app needs; the tests check that the two agree.
  app_settings = {
    "cloud.profile"              = "aws"
    "managed.postgres.tls"       = "verify-full"
    "managed.postgres.ca_bundle" = var.ca_bundle_path
    "managed.redis.tls"          = true
    "managed.mongodb.flavour"    = "documentdb"
    "managed.mongodb.ca_bundle"  = var.ca_bundle_path
    "storage.backend"            = "s3"
    "storage.bucket"             = aws_s3_bucket.images.bucket
    "storage.region"             = var.region
    "secrets.aws_secret_id"      = aws_secretsmanager_secret.app.arn
    "secrets.aws_region"         = var.region
  }
}

output "app_settings" {
  description = "The app's non-secret configuration for this environment, configuration key => value."
  value       = local.app_settings
}

output "app_environment" {
  description = "app_settings as the APP__* variables the app reads (for the shop's ConfigMap)."
  value       = { for key, value in local.app_settings : "APP__${upper(replace(key, ".", "__"))}" => tostring(value) }
}

output "app_secret_arn" {
  description = "The secret with the app's secret configuration keys (secrets.aws_secret_id)."
  value       = aws_secretsmanager_secret.app.arn
}

output "app_role_arn" {
  description = "The IAM role of the shop's service account: annotate it with eks.amazonaws.com/role-arn."
  value       = aws_iam_role.app.arn
}

output "images_bucket" {
  description = "The product images bucket (storage.bucket)."
  value       = aws_s3_bucket.images.bucket
}

output "images_prefix" {
  description = "The key prefix the app's role may use in the bucket: the app keeps every image under it."
  value       = var.images_prefix
}

output "region" {
  description = "The region of every resource (storage.region)."
  value       = var.region
}

output "eks_cluster_name" {
  description = "The EKS cluster, for `aws eks update-kubeconfig --name`."
  value       = aws_eks_cluster.main.name
}

output "eks_cluster_endpoint" {
  description = "The EKS API endpoint."
  value       = aws_eks_cluster.main.endpoint
}

output "postgres_endpoint" {
  description = "The PostgreSQL primary, host:port (postgres.url's host)."
  value       = aws_db_instance.primary.endpoint
}

output "postgres_replica_endpoint" {
  description = "The PostgreSQL read replica, host:port (replica.url's host)."
  value       = aws_db_instance.replica.endpoint
}

output "redis_endpoint" {
  description = "The Redis primary endpoint (redis.url's host, TLS on 6379)."
  value       = aws_elasticache_replication_group.redis.primary_endpoint_address
}

output "docdb_endpoint" {
  description = "The DocumentDB cluster endpoint (mongodb.uri's host, TLS on 27017)."
  value       = aws_docdb_cluster.main.endpoint
}

output "data_subnet_cidrs" {
  description = "The data stores' subnets, which the shop's egress NetworkPolicy must allow (inside vpc_cidr)."
  value       = aws_subnet.data[*].cidr_block
}
