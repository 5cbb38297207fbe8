# The shop's own AWS identity: an IAM role that only the pods of its Kubernetes service account
# (`system:serviceaccount:<k8s_namespace>:<k8s_service_account>`) can assume, through the
# cluster's OIDC provider (IRSA). It may do what the app does and nothing more:
#
# - get, put and delete objects under the images prefix of the images bucket (no listing, no
#   other prefix, no bucket settings);
# - read its one secret;
# - use the app key, only through S3 and Secrets Manager: decrypt what it reads, and make the
#   data key S3 encrypts a new image with (SSE-KMS needs kms:GenerateDataKey on PutObject).

locals {
  oidc_issuer = replace(aws_eks_cluster.main.identity[0].oidc[0].issuer, "https://", "")
}

data "aws_iam_policy_document" "app_trust" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.eks.arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${var.k8s_namespace}:${var.k8s_service_account}"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "app" {
  name               = "${local.name}-app"
  description        = "The shop's pods (service account ${var.k8s_namespace}/${var.k8s_service_account})"
  assume_role_policy = data.aws_iam_policy_document.app_trust.json
}

data "aws_iam_policy_document" "app" {
  statement {
    sid = "ProductImages"
    actions = [
      "s3:DeleteObject",
      "s3:GetObject",
      "s3:PutObject",
    ]
    resources = ["${aws_s3_bucket.images.arn}/${var.images_prefix}*"]
  }

  statement {
    sid       = "AppSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.app.arn]
  }

  statement {
    sid       = "DecryptImagesAndSecret"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.app.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        "s3.${var.region}.amazonaws.com",
        "secretsmanager.${var.region}.amazonaws.com",
      ]
    }
  }

  statement {
    sid       = "EncryptNewImages"
    actions   = ["kms:GenerateDataKey"]
    resources = [aws_kms_key.app.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "app" {
  name   = "shop"
  role   = aws_iam_role.app.id
  policy = data.aws_iam_policy_document.app.json
}
