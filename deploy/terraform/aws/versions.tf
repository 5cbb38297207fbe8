# The versions this configuration is written for. The state lives in S3 (a partial backend:
# `terraform init -backend-config=environments/<env>.s3.tfbackend`, see ../README.md), so no
# state file with the generated passwords is ever on a laptop or in the repository.
terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.60"
    }
    # The generated passwords, the auth token and the JWT secret.
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
    # The thumbprint of the EKS OIDC issuer's certificate, for the IRSA identity provider.
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
  }

  backend "s3" {}
}
