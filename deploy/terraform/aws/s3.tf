# The product images (storage.backend = "s3"): a private bucket, no public access of any kind
# (the shop serves or signs every image itself), objects owned by the bucket's account (ACLs
# off), SSE-KMS with the app key, versioning so an overwrite or delete can be undone, and a
# lifecycle that expires old versions and abandoned multipart uploads. Only TLS requests are
# accepted.

resource "aws_s3_bucket" "images" {
  #checkov:skip=CKV_AWS_18:server access logs need a second bucket that would need logging itself; object-level access is audited through CloudTrail data events where the account trail records them
  #checkov:skip=CKV2_AWS_62:nothing consumes upload events; the app knows what it wrote
  #checkov:skip=CKV_AWS_144:images are re-uploadable catalog media and versioning undoes deletes; a second region doubles storage for a recovery plan this deployment does not have
  # Bucket names are global: the account id keeps two accounts' environments apart.
  bucket = "${local.name}-images-${local.account_id}"
}

resource "aws_s3_bucket_public_access_block" "images" {
  bucket = aws_s3_bucket.images.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "images" {
  bucket = aws_s3_bucket.images.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "images" {
  bucket = aws_s3_bucket.images.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.app.arn
    }
    # One data key per bucket for a while instead of a KMS call per object: cheaper, fewer
    # throttled requests.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "images" {
  bucket = aws_s3_bucket.images.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "images" {
  bucket = aws_s3_bucket.images.id

  rule {
    id     = "old-versions-and-abandoned-uploads"
    status = "Enabled"

    filter {}

    # An overwritten or deleted image stays restorable this long, then goes for good.
    noncurrent_version_expiration {
      noncurrent_days = var.image_noncurrent_version_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.images]
}

data "aws_iam_policy_document" "images_tls_only" {
  statement {
    sid     = "DenyPlainHttp"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.images.arn,
      "${aws_s3_bucket.images.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "images" {
  bucket = aws_s3_bucket.images.id
  policy = data.aws_iam_policy_document.images_tls_only.json

  depends_on = [aws_s3_bucket_public_access_block.images]
}
