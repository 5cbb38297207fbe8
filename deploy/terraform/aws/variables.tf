# What differs between environments. Every variable has a type, a description and, where a
# wrong value would only fail at apply time (or worse, apply), a validation. The conditions use
# only functions that HCL's own library knows (contains, regex, can, min, max), so the tests
# evaluate each one against both environments' values without Terraform.

variable "environment" {
  type        = string
  description = "The environment's short name; part of every resource name (dev or prod)."

  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "The environment must be dev or prod."
  }
}

variable "name" {
  type        = string
  description = "The project's name, the first part of every resource name."
  default     = "stepwise-shop"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,20}$", var.name))
    error_message = "The name must be 3 to 21 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "The AWS region everything is created in."
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "The region must be an AWS region name such as us-east-1."
  }
}

variable "vpc_cidr" {
  type        = string
  description = "The VPC's address range, a private /16 (k8s/overlays/prod/network-policies.yaml lets the shop reach the data stores in 10.20.0.0/16: keep them in step)."

  validation {
    condition     = can(regex("^10\\.([0-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-5])\\.0\\.0/16$", var.vpc_cidr))
    error_message = "The VPC CIDR must be a /16 inside 10.0.0.0/8, such as 10.20.0.0/16."
  }
}

variable "az_count" {
  type        = number
  description = "How many availability zones the subnets span: 2 (dev) or 3 (prod)."

  validation {
    condition     = contains([2, 3], var.az_count)
    error_message = "The subnets span 2 or 3 availability zones."
  }
}

variable "single_nat_gateway" {
  type        = bool
  description = "One NAT gateway for every private subnet (cheaper; the zone it is in is a single point of failure for outbound traffic) instead of one per zone."
}

variable "eks_version" {
  type        = string
  description = "The Kubernetes version of the EKS control plane (step 7's manifests are validated against 1.30)."
  default     = "1.30"

  validation {
    condition     = can(regex("^1\\.(29|3[0-9])$", var.eks_version))
    error_message = "The EKS version must be 1.29 or a 1.3x release."
  }
}

variable "eks_public_access_cidrs" {
  type        = list(string)
  description = "The networks (CIDRs) from which the EKS API endpoint may be reached over the internet, e.g. the office's or the CI runners'; empty keeps the endpoint private (reached from inside the VPC only)."

  validation {
    condition     = can([for cidr in var.eks_public_access_cidrs : regex("^[0-9]{1,3}(\\.[0-9]{1,3}){3}/([89]|[12][0-9]|3[0-2])$", cidr)])
    error_message = "Each entry must be an IPv4 CIDR with a prefix of /8 or longer; 0.0.0.0/0 is not allowed."
  }
}

variable "node_instance_types" {
  type        = list(string)
  description = "The EC2 instance types of the managed node group, first choice first."

  validation {
    condition     = can(var.node_instance_types[0]) && can([for type in var.node_instance_types : regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", type)])
    error_message = "Name at least one instance type, each like m6i.large."
  }
}

variable "node_min_size" {
  type        = number
  description = "The fewest nodes the node group keeps."

  validation {
    condition     = var.node_min_size >= 1 && var.node_min_size <= 20
    error_message = "The node group keeps between 1 and 20 nodes at least."
  }
}

variable "node_desired_size" {
  type        = number
  description = "The nodes the node group starts with (the cluster autoscaler changes it later)."

  validation {
    condition     = var.node_desired_size >= 1 && var.node_desired_size <= 50
    error_message = "The node group starts with between 1 and 50 nodes."
  }
}

variable "node_max_size" {
  type        = number
  description = "The most nodes the node group may grow to."

  validation {
    condition     = var.node_max_size >= 1 && var.node_max_size <= 50
    error_message = "The node group grows to 50 nodes at most."
  }
}

variable "postgres_instance_class" {
  type        = string
  description = "The RDS instance class of the PostgreSQL primary and of its read replica."

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.postgres_instance_class))
    error_message = "The PostgreSQL instance class must look like db.m6g.large."
  }
}

variable "postgres_allocated_storage" {
  type        = number
  description = "The PostgreSQL primary's storage in GiB at creation (gp3; storage autoscaling may grow it to four times this)."

  validation {
    condition     = var.postgres_allocated_storage >= 20 && var.postgres_allocated_storage <= 16384
    error_message = "Allocate between 20 and 16384 GiB."
  }
}

variable "postgres_multi_az" {
  type        = bool
  description = "A synchronous standby of the PostgreSQL primary in a second zone, failed over to automatically (prod)."
}

variable "redis_node_type" {
  type        = string
  description = "The ElastiCache node type of every Redis node."

  validation {
    condition     = can(regex("^cache\\.[a-z0-9]+\\.[a-z0-9]+$", var.redis_node_type))
    error_message = "The Redis node type must look like cache.m6g.large."
  }
}

variable "redis_replicas" {
  type        = number
  description = "Redis replicas beside the primary; with one or more, failover is automatic and the nodes spread over zones."

  validation {
    condition     = var.redis_replicas >= 0 && var.redis_replicas <= 5
    error_message = "Between 0 and 5 replicas."
  }
}

variable "docdb_instance_class" {
  type        = string
  description = "The DocumentDB instance class of every instance of the cluster."

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.docdb_instance_class))
    error_message = "The DocumentDB instance class must look like db.r6g.large."
  }
}

variable "docdb_instances" {
  type        = number
  description = "DocumentDB instances: one primary, the rest replicas in other zones that reads may use and failover promotes."

  validation {
    condition     = var.docdb_instances >= 1 && var.docdb_instances <= 16
    error_message = "Between 1 and 16 instances."
  }
}

variable "backup_retention_days" {
  type        = number
  description = "How many days of automated backups RDS and DocumentDB keep (point-in-time recovery within them)."

  validation {
    condition     = var.backup_retention_days >= 7 && var.backup_retention_days <= 35
    error_message = "Keep between 7 and 35 days of backups."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse to delete the databases (and the EKS-facing data) until this is turned off in a separate apply (prod)."
}

variable "log_retention_days" {
  type        = number
  description = "How many days the CloudWatch log groups (VPC flow logs, EKS control plane, database logs) keep their events."
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "Keep logs for a year at least, in one of CloudWatch's retention periods (365, 400, 545, 731, ... days)."
  }
}

variable "image_noncurrent_version_days" {
  type        = number
  description = "How many days a replaced or deleted product image's old version is kept before it expires."
  default     = 30

  validation {
    condition     = var.image_noncurrent_version_days >= 1 && var.image_noncurrent_version_days <= 365
    error_message = "Between 1 and 365 days."
  }
}

variable "images_prefix" {
  type        = string
  description = "The key prefix of the product images in the bucket; the app's role may touch nothing outside it."
  default     = "products/"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]*/$", var.images_prefix))
    error_message = "The prefix must be lowercase letters, digits or hyphens ending in a slash, such as products/."
  }
}

variable "k8s_namespace" {
  type        = string
  description = "The Kubernetes namespace the shop runs in (k8s/overlays/prod: stepwise-shop)."
  default     = "stepwise-shop"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.k8s_namespace))
    error_message = "A Kubernetes namespace name: lowercase letters, digits and hyphens."
  }
}

variable "k8s_service_account" {
  type        = string
  description = "The shop's Kubernetes service account (k8s/base/app/serviceaccount.yaml: shop), the only one that may assume the app's IAM role."
  default     = "shop"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.k8s_service_account))
    error_message = "A Kubernetes service account name: lowercase letters, digits and hyphens."
  }
}

variable "ca_bundle_path" {
  type        = string
  description = "Where the pods find the RDS certificate bundle (global-bundle.pem, which signs RDS and DocumentDB alike): managed.postgres.ca_bundle and managed.mongodb.ca_bundle, as the aws profile sets them."
  default     = "/etc/stepwise-shop/ca/aws-rds-global-bundle.pem"

  validation {
    condition     = can(regex("^/[^ ]+\\.pem$", var.ca_bundle_path))
    error_message = "An absolute path to a .pem file."
  }
}
