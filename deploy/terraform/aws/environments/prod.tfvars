# prod: three zones, a NAT gateway in each, a multi-AZ PostgreSQL primary with its replica,
# Redis and DocumentDB with a replica in another zone; nothing deletable by accident. The VPC
# is the 10.20.0.0/16 that k8s/overlays/prod/network-policies.yaml lets the shop reach.
environment        = "prod"
region             = "us-east-1"
vpc_cidr           = "10.20.0.0/16"
az_count           = 3
single_nat_gateway = false

# The API endpoint is private: kubectl from inside the VPC (a bastion, the VPN, CI runners there).
eks_public_access_cidrs = []
node_instance_types     = ["m6i.large"]
node_min_size           = 3
node_desired_size       = 3
node_max_size           = 9

postgres_instance_class    = "db.m6g.large"
postgres_allocated_storage = 100
postgres_multi_az          = true

redis_node_type = "cache.m6g.large"
redis_replicas  = 1

docdb_instance_class = "db.r6g.large"
docdb_instances      = 2

backup_retention_days = 14
deletion_protection   = true
log_retention_days    = 365
