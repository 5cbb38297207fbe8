# DocumentDB (MongoDB 5.0 compatible), the catalog's store: a cluster of `docdb_instances`
# instances over the zones, encrypted with the data key, TLS required by its cluster parameter
# group (`tls = enabled`: the server refuses plain connections), audit and profiler logs to
# CloudWatch. The app connects with managed.mongodb.flavour = "documentdb" (no retryable
# writes, which DocumentDB does not support) and verifies the server against the RDS bundle.

resource "aws_docdb_subnet_group" "main" {
  name       = "${local.name}-docdb"
  subnet_ids = aws_subnet.data[*].id
}

resource "aws_security_group" "docdb" {
  name        = "${local.name}-docdb"
  description = "DocumentDB: 27017 from the EKS cluster only; no egress"
  vpc_id      = aws_vpc.main.id
}

resource "aws_vpc_security_group_ingress_rule" "docdb_from_eks" {
  security_group_id            = aws_security_group.docdb.id
  description                  = "DocumentDB from the EKS nodes and pods"
  referenced_security_group_id = aws_eks_cluster.main.vpc_config[0].cluster_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 27017
  to_port                      = 27017
}

resource "aws_docdb_cluster_parameter_group" "main" {
  name        = "${local.name}-docdb5"
  family      = "docdb5.0"
  description = "TLS required, audit logs and the profiler on"

  parameter {
    name  = "tls"
    value = "enabled"
  }

  parameter {
    name  = "audit_logs"
    value = "enabled"
  }

  parameter {
    name  = "profiler"
    value = "enabled"
  }

  # Operations slower than half a second are profiled.
  parameter {
    name  = "profiler_threshold_ms"
    value = "500"
  }
}

resource "random_password" "docdb" {
  length  = 40
  special = false
}

resource "aws_cloudwatch_log_group" "docdb" {
  for_each = toset(["audit", "profiler"])

  name              = "/aws/docdb/${local.name}-docdb/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.logs.arn
}

resource "aws_docdb_cluster" "main" {
  cluster_identifier = "${local.name}-docdb"
  engine             = "docdb"
  engine_version     = "5.0.0"
  master_username    = "shop"
  master_password    = random_password.docdb.result
  port               = 27017

  db_subnet_group_name            = aws_docdb_subnet_group.main.name
  vpc_security_group_ids          = [aws_security_group.docdb.id]
  db_cluster_parameter_group_name = aws_docdb_cluster_parameter_group.main.name

  storage_encrypted = true
  kms_key_id        = aws_kms_key.data.arn

  backup_retention_period         = var.backup_retention_days
  preferred_backup_window         = "03:00-04:00"
  preferred_maintenance_window    = "sun:06:30-sun:07:30"
  deletion_protection             = var.deletion_protection
  skip_final_snapshot             = false
  final_snapshot_identifier       = "${local.name}-docdb-final"
  enabled_cloudwatch_logs_exports = ["audit", "profiler"]

  depends_on = [aws_cloudwatch_log_group.docdb]
}

resource "aws_docdb_cluster_instance" "main" {
  count = var.docdb_instances

  identifier                 = "${local.name}-docdb-${count.index}"
  cluster_identifier         = aws_docdb_cluster.main.id
  instance_class             = var.docdb_instance_class
  auto_minor_version_upgrade = true
  ca_cert_identifier         = "rds-ca-rsa2048-g1"
}
