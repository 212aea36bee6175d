//! STS: who is calling.

use kumo_auth::Principal;
use kumo_common::xml::XmlWriter;

pub(super) fn get_caller_identity(caller: &Principal) -> XmlWriter {
    let mut xml = XmlWriter::fragment();
    xml.text("Arn", &caller.arn())
        .text("UserId", &caller.user_id)
        .text("Account", &caller.account_id);
    xml
}
