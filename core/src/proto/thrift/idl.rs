//! Names from Thrift IDL files, as a fixed table the shell fills in.
//!
//! Packetbeat's `idl_files` option names what the wire only numbers: the
//! service of a method (`path`, `thrift.service`), the parameters
//! (`(num1: 1, num2: 1)` instead of `(1: 1, 2: 1)`) and the declared
//! exceptions of each method. Parsing IDL is a shell's job (files, text):
//! it fills a table once and hands the kernel a `&'static` reference
//! ([`ThriftConfig::idl`](super::ThriftConfig::idl)); the kernel only looks
//! names up in this bounded table: at most
//! [`MAX_IDL_METHODS`] methods, [`MAX_IDL_FIELDS`] named fields and
//! [`IDL_TEXT_CAP`] bytes of names in all. Lookups are by method name and,
//! for multiplexed calls, by service too; the first entry added wins.

use heapless::Vec;

/// Most methods in the table.
pub const MAX_IDL_METHODS: usize = 128;
/// Most named parameters and exceptions in the table, all methods together.
pub const MAX_IDL_FIELDS: usize = 512;
/// Bytes of service, method and field names in the table.
pub const IDL_TEXT_CAP: usize = 6144;

/// The table is full: the method was not added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdlFull;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Name {
    off: u16,
    len: u16,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Field {
    id: i16,
    name: Name,
}

/// A range of [`ThriftIdl`] fields: a method's parameters or exceptions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FieldRange {
    start: u16,
    len: u16,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Method {
    service: Name,
    name: Name,
    params: FieldRange,
    exceptions: FieldRange,
}

/// Method, service, parameter and exception names (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ThriftIdl {
    text: Vec<u8, IDL_TEXT_CAP>,
    methods: Vec<Method, MAX_IDL_METHODS>,
    fields: Vec<Field, MAX_IDL_FIELDS>,
}

/// What the table says about one method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdlMethod {
    /// Index of the method in the table.
    pub index: u16,
    /// Its parameters.
    pub params: FieldRange,
    /// Its declared exceptions.
    pub exceptions: FieldRange,
}

impl ThriftIdl {
    /// True when no method was added.
    pub fn is_empty(&self) -> bool {
        self.methods.is_empty()
    }

    fn name(&mut self, s: &str) -> Result<Name, IdlFull> {
        let off = self.text.len();
        self.text.extend_from_slice(s.as_bytes()).map_err(|_| IdlFull)?;
        Ok(Name { off: off as u16, len: s.len() as u16 })
    }

    fn fields(&mut self, list: &[(i16, &str)]) -> Result<FieldRange, IdlFull> {
        let start = self.fields.len();
        for (id, n) in list {
            let name = self.name(n)?;
            self.fields.push(Field { id: *id, name }).map_err(|_| IdlFull)?;
        }
        Ok(FieldRange { start: start as u16, len: list.len() as u16 })
    }

    /// Adds `service.method` with its parameters and declared exceptions
    /// (field id and name each). Nothing is added when it does not fit.
    pub fn add_method(
        &mut self,
        service: &str,
        method: &str,
        params: &[(i16, &str)],
        exceptions: &[(i16, &str)],
    ) -> Result<(), IdlFull> {
        let saved = (self.text.len(), self.fields.len());
        let r = (|| {
            if self.methods.is_full() {
                return Err(IdlFull);
            }
            let service = self.name(service)?;
            let name = self.name(method)?;
            let params = self.fields(params)?;
            let exceptions = self.fields(exceptions)?;
            self.methods.push(Method { service, name, params, exceptions }).map_err(|_| IdlFull)
        })();
        if r.is_err() {
            self.text.truncate(saved.0);
            self.fields.truncate(saved.1);
        }
        r
    }

    fn text(&self, n: Name) -> &[u8] {
        let start = n.off as usize;
        self.text.get(start..start + n.len as usize).unwrap_or(&[])
    }

    /// The method `method` (of `service` when it is not empty).
    pub fn find(&self, service: &[u8], method: &[u8]) -> Option<IdlMethod> {
        let i = self
            .methods
            .iter()
            .position(|m| self.text(m.name) == method && (service.is_empty() || self.text(m.service) == service))?;
        let m = self.methods.get(i)?;
        Some(IdlMethod { index: i as u16, params: m.params, exceptions: m.exceptions })
    }

    /// The service name of method number `index`.
    pub fn service(&self, index: u16) -> &[u8] {
        self.methods.get(index as usize).map_or(&[], |m| self.text(m.service))
    }

    /// The name of field `id` in `range`.
    pub fn field_name(&self, range: FieldRange, id: i16) -> Option<&[u8]> {
        let start = range.start as usize;
        let fields = self.fields.get(start..start + range.len as usize)?;
        fields.iter().find(|f| f.id == id).map(|f| self.text(f.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_and_find() {
        let mut t = ThriftIdl::default();
        assert!(t.is_empty());
        t.add_method("Calculator", "add", &[(1, "num1"), (2, "num2")], &[]).unwrap();
        t.add_method("Calculator", "calculate", &[(1, "logid"), (2, "w")], &[(1, "ouch")]).unwrap();
        t.add_method("Other", "add", &[(1, "x")], &[]).unwrap();
        let m = t.find(b"", b"add").unwrap();
        assert_eq!(t.service(m.index), b"Calculator");
        assert_eq!(t.field_name(m.params, 2), Some(&b"num2"[..]));
        assert_eq!(t.field_name(m.params, 3), None);
        let o = t.find(b"Other", b"add").unwrap();
        assert_eq!(t.field_name(o.params, 1), Some(&b"x"[..]));
        let c = t.find(b"", b"calculate").unwrap();
        assert_eq!(t.field_name(c.exceptions, 1), Some(&b"ouch"[..]));
        assert!(t.find(b"", b"nope").is_none());
    }

    #[test]
    fn full_table_adds_nothing() {
        let mut t = ThriftIdl::default();
        let long = core::str::from_utf8(&[b'a'; 4000]).unwrap();
        t.add_method("S", long, &[], &[]).unwrap();
        assert_eq!(t.add_method("S", "m", &[(1, long)], &[]), Err(IdlFull));
        assert!(t.find(b"", b"m").is_none());
        t.add_method("S", "m", &[(1, "p")], &[]).unwrap();
        let m = t.find(b"S", b"m").unwrap();
        assert_eq!(t.field_name(m.params, 1), Some(&b"p"[..]));
    }
}
