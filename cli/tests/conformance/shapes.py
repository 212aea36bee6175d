"""Response shapes: an XML body as a set of element paths with a type per path, and a check
of a body against botocore's service model (the output shape of its operation).

A path is the element names from the root, joined by "/", namespaces dropped. Repeated
elements (list items: `item`, `member`, S3's flattened `Contents`) collapse into one path,
so counts never matter. Types: `node` (has child elements), `empty`, `int`, `bool`,
`timestamp`, `string`. A path that carries different types in different items gets all of
them ("int|string").
"""
import datetime
import re
import xml.etree.ElementTree as ET

INT = re.compile(r"^-?\d+$")
FLOAT = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")


def local(tag):
    """An element's name without its namespace."""
    return tag.rsplit("}", 1)[-1]


def leaf_type(text):
    text = (text or "").strip()
    if not text:
        return "empty"
    if INT.match(text):
        return "int"
    if text in ("true", "false"):
        return "bool"
    if TIMESTAMP.match(text):
        return "timestamp"
    return "string"


def parse(body):
    """The root element of an XML body, or None when the body is empty or not XML."""
    if not body or not body.strip():
        return None
    try:
        return ET.fromstring(body)
    except ET.ParseError:
        return None


def paths(root):
    """{path: set of types} for every element under (and including) `root`."""
    found = {}

    def walk(element, prefix):
        path = f"{prefix}/{local(element.tag)}" if prefix else local(element.tag)
        children = list(element)
        kind = "node" if children else leaf_type(element.text)
        found.setdefault(path, set()).add(kind)
        for child in children:
            walk(child, path)

    if root is not None:
        walk(root, "")
    return found


def type_text(types):
    return "|".join(sorted(types))


# ---------------------------------------------------------------------------------------
# The service model


def member_key(name, shape):
    """The XML element name a structure member is serialized as (botocore's parser rule:
    a flattened list with a named member uses that name; else locationName; else the
    member's name)."""
    if shape.type_name == "list" and shape.serialization.get("flattened"):
        named = shape.member.serialization.get("name")
        if named:
            return named
    return shape.serialization.get("name") or name


def body_members(shape):
    """{xml name: (member name, shape)} of a structure's members that travel in the body."""
    out = {}
    for name, member in shape.members.items():
        if member.serialization.get("location") or member.serialization.get("xmlAttribute"):
            continue
        out[member_key(name, member)] = (name, member)
    return out


def value_fits(shape, text):
    """Does a leaf's text parse as the model's scalar type?"""
    text = (text or "").strip()
    kind = shape.type_name
    if kind in ("integer", "long"):
        return bool(INT.match(text))
    if kind in ("float", "double"):
        return bool(FLOAT.match(text))
    if kind == "boolean":
        return text in ("true", "false")
    if kind == "timestamp":
        if TIMESTAMP.match(text):
            return True
        try:  # S3 answers some times in RFC 822
            datetime.datetime.strptime(text, "%a, %d %b %Y %H:%M:%S %Z")
            return True
        except ValueError:
            return False
    return True


class ModelCheck:
    """Walk a body along an output shape; collect unknown element names and leaves whose
    text does not fit the member's type, as ("unknown"|"type", path, detail)."""

    def __init__(self):
        self.problems = []
        self.known = set()

    def structure(self, element, shape, path):
        members = body_members(shape)
        for child in element:
            name = local(child.tag)
            child_path = f"{path}/{name}"
            if name not in members:
                self.problems.append(("unknown", child_path, f"not a member of {shape.name}"))
                continue
            member_shape = members[name][1]
            self.known.add(child_path)
            if member_shape.type_name == "list" and member_shape.serialization.get("flattened"):
                self.value(child, member_shape.member, child_path)
            else:
                self.value(child, member_shape, child_path)

    def value(self, element, shape, path):
        kind = shape.type_name
        children = list(element)
        if kind == "structure":
            self.structure(element, shape, path)
        elif kind == "list":
            item = shape.member.serialization.get("name", "member")
            for child in children:
                name = local(child.tag)
                if name != item:
                    self.problems.append(("unknown", f"{path}/{name}", f"list {shape.name} holds <{item}>"))
                    continue
                self.known.add(f"{path}/{name}")
                self.value(child, shape.member, f"{path}/{name}")
        elif kind == "map":
            for child in children:
                self.known.add(f"{path}/{local(child.tag)}")
                self.value_of_map_entry(child, shape, f"{path}/{local(child.tag)}")
        else:
            if children:
                self.problems.append(("unknown", f"{path}/{local(children[0].tag)}", f"{shape.name} is a {kind}"))
            elif not value_fits(shape, element.text):
                self.problems.append(("type", path, f"{element.text!r} is not a {kind}"))

    def value_of_map_entry(self, entry, shape, path):
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        for child in entry:
            name = local(child.tag)
            if name in (key_name, value_name):
                self.known.add(f"{path}/{name}")
            if name == key_name:
                self.value(child, shape.key, f"{path}/{name}")
            elif name == value_name:
                self.value(child, shape.value, f"{path}/{name}")
            else:
                self.problems.append(("unknown", f"{path}/{name}", f"map {shape.name} entry"))


def check_against_model(root, operation_model, protocol):
    """One successful response body against its operation's output shape: (problems, the
    element paths the model knows)."""
    check = ModelCheck()
    output = operation_model.output_shape
    root_name = local(root.tag)
    check.known.add(root_name)
    # The envelope: EC2's requestId (and `return`, which AWS sends for actions the model
    # gives no output), Query's ResponseMetadata/RequestId.
    envelope = {"requestId", "return"} if protocol == "ec2" else {"ResponseMetadata"}
    if protocol == "query" and output is not None:
        envelope.add(output.serialization.get("resultWrapper"))
    for child in root:
        name = local(child.tag)
        path = f"{root_name}/{name}"
        if protocol in ("ec2", "query") and name in envelope:
            check.known.add(path)
            if name == "ResponseMetadata":
                for meta in child:
                    if local(meta.tag) == "RequestId":
                        check.known.add(f"{path}/RequestId")
                    else:
                        check.problems.append(("unknown", f"{path}/{local(meta.tag)}", "ResponseMetadata"))
            elif output is not None and protocol == "query":
                check.structure(child, output, path)
            continue
        if output is None:
            check.problems.append(("unknown", path, "the operation has no output"))
        elif protocol == "ec2":
            members = body_members(output)
            if name not in members:
                check.problems.append(("unknown", path, f"not a member of {output.name}"))
                continue
            check.known.add(path)
            member_shape = members[name][1]
            if member_shape.type_name == "list" and member_shape.serialization.get("flattened"):
                member_shape = member_shape.member
            check.value(child, member_shape, path)
        elif protocol == "query":
            check.problems.append(("unknown", path, "expected the result or ResponseMetadata"))
    if protocol == "rest-xml" and output is not None:
        payload = output.serialization.get("payload")
        shape = output.members[payload] if payload else output
        if shape.type_name == "structure":
            expected_root = shape.serialization.get("name")
            if expected_root and expected_root != root_name:
                check.problems.append(("unknown", root_name, f"the root is <{expected_root}>"))
            check.structure(root, shape, root_name)
    return check.problems, check.known


def renamed_root(paths_or_problems, new_root):
    """Paths with their first element replaced (S3's root element name is not part of
    the model's shape: botocore ignores it, and moto names some differently)."""
    def rename(path):
        head, _, rest = path.partition("/")
        return f"{new_root}/{rest}" if rest else new_root

    if isinstance(paths_or_problems, dict):
        return {rename(p): t for p, t in paths_or_problems.items()}
    if isinstance(paths_or_problems, set):
        return {rename(p) for p in paths_or_problems}
    return [(kind, rename(path) if not path.startswith("@") else path, detail) for kind, path, detail in paths_or_problems]


def modelled_headers(operation_model, headers):
    """The response headers that map to output members (`location: header[s]`), as
    `@header` paths with a type."""
    output = operation_model.output_shape
    if output is None:
        return {}
    names = set()
    prefixes = set()
    for member in output.members.values():
        location = member.serialization.get("location")
        if location == "header":
            names.add(member.serialization.get("name", "").lower())
        elif location == "headers":
            prefixes.add(member.serialization.get("name", "").lower())
    found = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in names:
            found[f"@{lower}"] = {leaf_type(value)}
        elif any(lower.startswith(p) for p in prefixes if p):
            prefix = next(p for p in prefixes if p and lower.startswith(p))
            found[f"@{prefix}*"] = {"string"}
    return found
