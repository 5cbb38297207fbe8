# PostgreSQL 15 on RDS: a primary (multi-AZ where `postgres_multi_az`) and a read replica
# (replica.url, step 6), both encrypted with the data key, in the data subnets, reachable on
# 5432 from the EKS nodes and pods only. The parameter group sets `rds.force_ssl = 1`: the
# server refuses a connection without TLS, whatever the client asks for; the app verifies the
# server's certificate against the RDS bundle (managed.postgres.tls = "verify-full").

resource "aws_db_subnet_group" "postgres" {
  name       = "${local.name}-postgres"
  subnet_ids = aws_subnet.data[*].id
}

resource "aws_security_group" "postgres" {
  name        = "${local.name}-postgres"
  description = "PostgreSQL: 5432 from the EKS cluster only; no egress"
  vpc_id      = aws_vpc.main.id
}

resource "aws_vpc_security_group_ingress_rule" "postgres_from_eks" {
  security_group_id            = aws_security_group.postgres.id
  description                  = "PostgreSQL from the EKS nodes and pods"
  referenced_security_group_id = aws_eks_cluster.main.vpc_config[0].cluster_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_db_parameter_group" "postgres" {
  name        = "${local.name}-postgres15"
  family      = "postgres15"
  description = "TLS only (1.2 or newer), slow statements logged"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "ssl_min_protocol_version"
    value = "TLSv1.2"
  }

  # Statements slower than half a second land in the exported postgresql log.
  parameter {
    name  = "log_min_duration_statement"
    value = "500"
  }
}

resource "random_password" "postgres" {
  length  = 40
  special = false
}

# Created before the instances, so RDS exports into groups with this retention and key.
resource "aws_cloudwatch_log_group" "postgres" {
  for_each = toset(["primary", "replica"])

  name              = "/aws/rds/instance/${local.name}-postgres-${each.key}/postgresql"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.logs.arn
}

data "aws_iam_policy_document" "rds_monitoring_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

# Enhanced monitoring (OS metrics every minute) publishes through this role.
resource "aws_iam_role" "rds_monitoring" {
  name               = "${local.name}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.rds_monitoring_trust.json
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_db_instance" "primary" {
  #checkov:skip=CKV_AWS_157:prod sets postgres_multi_az = true, which the project checks require; dev runs one zone to halve its cost
  #checkov:skip=CKV_AWS_293:prod sets deletion_protection = true, which the project checks require; dev is torn down and rebuilt at will
  identifier     = "${local.name}-postgres-primary"
  engine         = "postgres"
  engine_version = "15"
  instance_class = var.postgres_instance_class

  db_name  = "shop"
  username = "shop"
  password = random_password.postgres.result
  port     = 5432

  allocated_storage     = var.postgres_allocated_storage
  max_allocated_storage = var.postgres_allocated_storage * 4
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.data.arn

  multi_az               = var.postgres_multi_az
  db_subnet_group_name   = aws_db_subnet_group.postgres.name
  vpc_security_group_ids = [aws_security_group.postgres.id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.postgres.name
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  iam_database_authentication_enabled = true
  auto_minor_version_upgrade          = true
  backup_retention_period             = var.backup_retention_days
  backup_window                       = "03:00-04:00"
  maintenance_window                  = "sun:04:30-sun:05:30"
  copy_tags_to_snapshot               = true
  deletion_protection                 = var.deletion_protection
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${local.name}-postgres-primary-final"

  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]
  monitoring_interval                   = 60
  monitoring_role_arn                   = aws_iam_role.rds_monitoring.arn
  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.data.arn
  performance_insights_retention_period = 7

  depends_on = [aws_cloudwatch_log_group.postgres]
}

# The read replica: asynchronous, in the same region, same class, same parameter group (so
# TLS is forced on it too). Its own endpoint is replica.url.
resource "aws_db_instance" "replica" {
  #checkov:skip=CKV_AWS_157:the replica is a second copy already and serves reads only; when it is gone reads fall back to the primary (step 6), so a standby of the standby would double its cost for nothing
  #checkov:skip=CKV_AWS_293:prod sets deletion_protection = true, which the project checks require; dev is torn down and rebuilt at will
  identifier          = "${local.name}-postgres-replica"
  replicate_source_db = aws_db_instance.primary.identifier
  instance_class      = var.postgres_instance_class

  storage_type      = "gp3"
  storage_encrypted = true
  kms_key_id        = aws_kms_key.data.arn

  multi_az               = false
  vpc_security_group_ids = [aws_security_group.postgres.id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.postgres.name
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  iam_database_authentication_enabled = true
  auto_minor_version_upgrade          = true
  backup_retention_period             = var.backup_retention_days
  copy_tags_to_snapshot               = true
  deletion_protection                 = var.deletion_protection
  # A replica's data is the primary's, whose final snapshot keeps it.
  skip_final_snapshot = true

  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]
  monitoring_interval                   = 60
  monitoring_role_arn                   = aws_iam_role.rds_monitoring.arn
  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.data.arn
  performance_insights_retention_period = 7

  depends_on = [aws_cloudwatch_log_group.postgres]
}
