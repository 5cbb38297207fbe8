# One region per environment; every resource gets the same tags, so cost reports can be split
# by environment and a resource nobody claims can be traced to this configuration.
provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  # The prefix of every name: `stepwise-shop-dev`, `stepwise-shop-prod`.
  name       = "${var.name}-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  tags = {
    Project     = var.name
    Environment = var.environment
    ManagedBy   = "terraform"
    Source      = "deploy/terraform/aws"
  }
}
