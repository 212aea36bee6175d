#![allow(clippy::unwrap_used)]

use super::*;

/// What the router makes of a request: an endpoint, or an error's code.
type Routed = std::result::Result<Endpoint, &'static str>;

/// The endpoint of `method /bucket[/key]?query` (with `headers`), or the error's code.
fn route(method: &str, path: &str, query: &str, headers: &[(&str, &str)]) -> Routed {
    let (bucket, key) = crate::s3::split_path(path, None).unwrap();
    let query = crate::s3::parse_query(Some(query)).unwrap();
    let mut header_map = HeaderMap::new();
    for (name, value) in headers {
        header_map.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    parse(&method, bucket, key, &query, &header_map).map_err(|e| e.code())
}

fn bucket(op: BucketOp) -> Routed {
    Ok(Endpoint::Bucket {
        bucket: "b".into(),
        op,
    })
}

fn object(op: ObjectOp) -> Routed {
    Ok(Endpoint::Object {
        bucket: "b".into(),
        key: ObjectKey::new("k/x").unwrap(),
        op,
    })
}

fn not_implemented(what: &str, access: Access) -> Routed {
    bucket(BucketOp::NotImplemented {
        what: what.into(),
        access,
    })
}

#[test]
fn service_and_bucket_requests() {
    let create = Ok(Endpoint::CreateBucket { bucket: "b".into() });
    let table: Vec<(&str, &str, &str, Routed)> = vec![
        ("GET", "/", "", Ok(Endpoint::ListBuckets)),
        ("PUT", "/", "", Err("MethodNotAllowed")),
        ("PUT", "/b", "", create.clone()),
        ("PUT", "/b", "x-id=CreateBucket", create),
        ("HEAD", "/b", "", bucket(BucketOp::Head)),
        ("DELETE", "/b", "", bucket(BucketOp::Delete)),
        (
            "DELETE",
            "/b",
            "x-id=DeleteBucket",
            bucket(BucketOp::Delete),
        ),
        ("GET", "/b", "location", bucket(BucketOp::GetLocation)),
        ("GET", "/b", "versioning", bucket(BucketOp::GetVersioning)),
        ("PUT", "/b", "versioning", bucket(BucketOp::PutVersioning)),
        ("GET", "/b", "tagging", bucket(BucketOp::GetTagging)),
        ("PUT", "/b", "tagging", bucket(BucketOp::PutTagging)),
        ("DELETE", "/b", "tagging", bucket(BucketOp::DeleteTagging)),
        ("GET", "/b", "acl", bucket(BucketOp::GetAcl)),
        (
            "GET",
            "/b",
            "cors",
            bucket(BucketOp::GetNotConfigured {
                operation: "GetBucketCors",
                code: "NoSuchCORSConfiguration",
                message: "The CORS configuration does not exist",
            }),
        ),
        (
            "DELETE",
            "/b",
            "lifecycle",
            bucket(BucketOp::DeleteNotConfigured {
                operation: "DeleteBucketLifecycle",
            }),
        ),
        ("GET", "/b", "accelerate", bucket(BucketOp::GetAccelerate)),
        (
            "GET",
            "/b",
            "requestPayment",
            bucket(BucketOp::GetRequestPayment),
        ),
        ("GET", "/b", "logging", bucket(BucketOp::GetLogging)),
        (
            "GET",
            "/b",
            "notification",
            bucket(BucketOp::GetNotification),
        ),
        ("GET", "/b", "", bucket(BucketOp::ListObjects)),
        (
            "GET",
            "/b",
            "list-type=2&prefix=a",
            bucket(BucketOp::ListObjectsV2),
        ),
        ("GET", "/b", "list-type=1", bucket(BucketOp::ListObjects)),
        (
            "GET",
            "/b",
            "versions",
            bucket(BucketOp::ListObjectVersions),
        ),
        (
            "GET",
            "/b",
            "uploads",
            bucket(BucketOp::ListMultipartUploads),
        ),
        ("POST", "/b", "delete", bucket(BucketOp::DeleteObjects)),
        ("POST", "/b", "", Err("MethodNotAllowed")),
        ("PATCH", "/b", "", Err("MethodNotAllowed")),
        (
            "GET",
            "/b",
            "metrics",
            not_implemented("metrics", Access::Read),
        ),
        (
            "PUT",
            "/b",
            "cors",
            not_implemented("PUT ?cors", Access::Write),
        ),
        (
            "DELETE",
            "/b",
            "metrics&x-id=1",
            not_implemented("DELETE ?metrics", Access::Write),
        ),
    ];
    for (method, path, query, expected) in table {
        assert_eq!(
            route(method, path, query, &[]),
            expected,
            "{method} {path}?{query}"
        );
    }
}

#[test]
fn object_requests() {
    let copy = [("x-amz-copy-source", "/src/k")];
    let part = |upload_id: &str, part_number| ObjectOp::UploadPart {
        upload_id: upload_id.into(),
        part_number,
    };
    type Headers<'a> = &'a [(&'a str, &'a str)];
    let table: Vec<(&str, &str, Headers, Routed)> = vec![
        ("PUT", "", &[], object(ObjectOp::Put)),
        ("PUT", "", &copy, object(ObjectOp::Copy)),
        ("GET", "", &[], object(ObjectOp::Get)),
        (
            "GET",
            "versionId=v&partNumber=2",
            &[],
            object(ObjectOp::Get),
        ),
        ("HEAD", "", &[], object(ObjectOp::Head)),
        ("HEAD", "tagging", &[], object(ObjectOp::Head)),
        ("GET", "attributes", &[], object(ObjectOp::GetAttributes)),
        ("DELETE", "", &[], object(ObjectOp::Delete)),
        ("GET", "tagging", &[], object(ObjectOp::GetTagging)),
        ("PUT", "tagging", &[], object(ObjectOp::PutTagging)),
        ("DELETE", "tagging", &[], object(ObjectOp::DeleteTagging)),
        ("GET", "acl", &[], object(ObjectOp::GetAcl)),
        (
            "PUT",
            "acl",
            &[],
            object(ObjectOp::NotImplemented("PutObjectAcl".into())),
        ),
        (
            "PUT",
            "retention",
            &[],
            object(ObjectOp::NotImplemented("?retention".into())),
        ),
        (
            "GET",
            "torrent",
            &[],
            object(ObjectOp::NotImplemented("?torrent".into())),
        ),
        (
            "POST",
            "uploads",
            &[],
            object(ObjectOp::CreateMultipartUpload),
        ),
        ("PUT", "uploadId=u&partNumber=3", &[], object(part("u", 3))),
        (
            "PUT",
            "uploadId=u&partNumber=3",
            &copy,
            object(ObjectOp::UploadPartCopy {
                upload_id: "u".into(),
                part_number: 3,
            }),
        ),
        ("PUT", "partNumber=3", &[], Err("InvalidArgument")),
        ("PUT", "uploadId=u", &[], Err("InvalidArgument")),
        (
            "PUT",
            "uploadId=u&partNumber=0",
            &[],
            Err("InvalidArgument"),
        ),
        (
            "PUT",
            "uploadId=u&partNumber=10001",
            &[],
            Err("InvalidArgument"),
        ),
        (
            "POST",
            "uploadId=u",
            &[],
            object(ObjectOp::CompleteMultipartUpload {
                upload_id: "u".into(),
            }),
        ),
        (
            "DELETE",
            "uploadId=u",
            &[],
            object(ObjectOp::AbortMultipartUpload {
                upload_id: "u".into(),
            }),
        ),
        (
            "GET",
            "uploadId=u",
            &[],
            object(ObjectOp::ListParts {
                upload_id: "u".into(),
            }),
        ),
        ("POST", "", &[], Err("MethodNotAllowed")),
        ("PATCH", "", &[], Err("MethodNotAllowed")),
    ];
    for (method, query, headers, expected) in table {
        assert_eq!(
            route(method, "/b/k%2Fx", query, headers),
            expected,
            "{method} ?{query} {headers:?}"
        );
    }
}

#[test]
fn every_endpoint_says_what_it_needs() {
    let read = Authorization::Bucket(Access::Read);
    let write = Authorization::Bucket(Access::Write);
    for (method, path, query, needs) in [
        ("GET", "/", "", Authorization::Caller),
        ("PUT", "/b", "", Authorization::Caller),
        ("HEAD", "/b", "", read),
        ("GET", "/b", "", read),
        ("GET", "/b", "policy", read),
        ("GET", "/b", "metrics", read),
        ("DELETE", "/b", "", write),
        ("PUT", "/b", "tagging", write),
        ("PUT", "/b", "cors", write),
        ("DELETE", "/b", "cors", write),
        ("POST", "/b", "delete", write),
        ("GET", "/b/k", "", read),
        ("HEAD", "/b/k", "", read),
        ("GET", "/b/k", "uploadId=u", read),
        ("PUT", "/b/k", "retention", read),
        ("PUT", "/b/k", "", write),
        ("PUT", "/b/k", "uploadId=u&partNumber=1", write),
        ("POST", "/b/k", "uploads", write),
        ("POST", "/b/k", "uploadId=u", write),
        ("DELETE", "/b/k", "uploadId=u", write),
        ("DELETE", "/b/k", "tagging", write),
    ] {
        let endpoint = route(method, path, query, &[]).unwrap();
        assert_eq!(endpoint.authorization(), needs, "{method} {path}?{query}");
    }
}

/// `OPERATIONS` is exactly what the router can answer: every request below names one
/// operation, and together they name every entry of the list.
#[test]
fn operations_list_what_the_router_serves() {
    use std::collections::BTreeSet;
    let copy: &[(&str, &str)] = &[("x-amz-copy-source", "/src/k")];
    type Request<'a> = (&'a str, &'a str, String, &'a [(&'a str, &'a str)]);
    let mut requests: Vec<Request> = vec![
        ("GET", "/", String::new(), &[]),
        ("PUT", "/b", String::new(), &[]),
        ("DELETE", "/b/k", "tagging".into(), &[]),
        ("PUT", "/b/k", "uploadId=u&partNumber=1".into(), copy),
        ("PUT", "/b/k", String::new(), copy),
    ];
    for query in [
        "",
        "location",
        "versioning",
        "tagging",
        "acl",
        "accelerate",
        "requestPayment",
        "logging",
        "notification",
        "list-type=2",
        "versions",
        "uploads",
    ] {
        requests.push(("GET", "/b", query.into(), &[]));
    }
    for (method, query) in [
        ("HEAD", ""),
        ("DELETE", ""),
        ("PUT", "versioning"),
        ("PUT", "tagging"),
        ("DELETE", "tagging"),
        ("POST", "delete"),
    ] {
        requests.push((method, "/b", query.into(), &[]));
    }
    for configuration in UNCONFIGURED {
        requests.push(("GET", "/b", configuration.subresource.into(), &[]));
        requests.push(("DELETE", "/b", configuration.subresource.into(), &[]));
    }
    for (method, query) in [
        ("PUT", ""),
        ("GET", ""),
        ("HEAD", ""),
        ("GET", "attributes"),
        ("DELETE", ""),
        ("GET", "tagging"),
        ("PUT", "tagging"),
        ("GET", "acl"),
        ("POST", "uploads"),
        ("PUT", "uploadId=u&partNumber=1"),
        ("POST", "uploadId=u"),
        ("DELETE", "uploadId=u"),
        ("GET", "uploadId=u"),
    ] {
        requests.push((method, "/b/k", query.into(), &[]));
    }
    let served: BTreeSet<&str> = requests
        .iter()
        .map(|(method, path, query, headers)| {
            route(method, path, query, headers).unwrap().operation()
        })
        .filter(|operation| *operation != "NotImplemented")
        .collect();
    let listed: BTreeSet<&str> = OPERATIONS.iter().copied().collect();
    assert_eq!(served, listed);
    assert_eq!(
        listed.len(),
        OPERATIONS.len(),
        "an operation is listed twice"
    );
}
