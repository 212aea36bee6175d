//! What every EC2 response shares: the envelope, `<return>true</return>`, tag sets and
//! EC2's sets of items (`<fooSet><item>…</item></fooSet>`). Each resource's own shapes live
//! in its file (`instances.rs`, `images.rs`, …), written with [`XmlWriter`]; they are
//! re-exported here as strings for tests, which feed them to botocore's parser.

use kumo_common::xml::XmlWriter;

pub use super::images::{describe_images_xml, image_location, image_xml};
pub use super::instance_attributes::instance_attribute_xml;
pub use super::instance_types::{cpu_topology, describe_instance_types_xml, instance_type_xml};
pub use super::instances::{
    console_output_xml, describe_instances_xml, group_reservations, instance_status_xml,
    instance_xml, private_dns_name, reservation_xml, split_reason, state_changes_xml,
};
pub use super::key_pairs::{created_key_pair_xml, describe_key_pairs_xml, imported_key_pair_xml};
pub use super::regions::{region_xml, zone_id, zone_xml};
use crate::tags::Tags;
pub use kumo_tags::ec2::describe_tags_xml;

pub use kumo_ec2_query::response::{document as response, returned_true, EC2_XMLNS};

/// [`response`] around a fragment already written as text.
pub fn envelope(action: &str, request_id: &str, inner: &str) -> String {
    let mut part = XmlWriter::fragment();
    part.finished_fragment(inner);
    response(action, request_id, part)
}

/// What `write` writes, as text.
pub fn fragment(write: impl FnOnce(&mut XmlWriter)) -> String {
    let mut xml = XmlWriter::fragment();
    write(&mut xml);
    xml.finish()
}

/// `<name><item>…</item>…</name>` from fragments already written as text.
pub fn set<I: IntoIterator<Item = String>>(name: &str, items: I) -> String {
    fragment(|xml| {
        xml.list(name, "item", items, |xml, item| {
            xml.finished_fragment(&item);
        });
    })
}

/// `<return>true</return>`.
pub fn return_true() -> String {
    returned_true().finish()
}

/// `<tagSet>` of `{key, value}` items.
pub fn tag_set(xml: &mut XmlWriter, tags: &Tags) {
    kumo_ec2_query::response::tag_set(xml, tags);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_shapes() {
        assert_eq!(
            set("groupSet", Vec::<String>::new()),
            "<groupSet></groupSet>"
        );
        assert_eq!(
            set("s", ["<a>1</a>".to_string()]),
            "<s><item><a>1</a></item></s>"
        );
        assert_eq!(return_true(), "<return>true</return>");
        assert_eq!(
            envelope("DeleteTags", "r-1", "<return>true</return>"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteTagsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r-1</requestId><return>true</return></DeleteTagsResponse>"
        );
    }
}
