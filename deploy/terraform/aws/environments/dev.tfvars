# dev: two zones, one NAT gateway, the smallest classes, no standby; deletable.
environment        = "dev"
region             = "us-east-1"
vpc_cidr           = "10.20.0.0/16"
az_count           = 2
single_nat_gateway = true

# Replace with the networks kubectl and CI reach the API from (a documentation range here).
eks_public_access_cidrs = ["203.0.113.0/24"]
node_instance_types     = ["t3.medium"]
node_min_size           = 2
node_desired_size       = 2
node_max_size           = 3

postgres_instance_class    = "db.t4g.micro"
postgres_allocated_storage = 20
postgres_multi_az          = false

redis_node_type = "cache.t4g.micro"
redis_replicas  = 0

docdb_instance_class = "db.t3.medium"
docdb_instances      = 1

backup_retention_days = 7
deletion_protection   = false
