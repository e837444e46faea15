//! The symbols attaching needs from the target's interpreter (its executable or
//! libpython): `_PyRuntime` is exported in `.dynsym` even by stripped builds
//! (Debian's `/usr/bin/python3.11`), as are `PyRun_SimpleString` and `Py_Version`.
//! Read with the `object` crate, only the parts needed (a `ReadCache` over the file).

use std::collections::HashMap;
use std::fs::File;

use object::elf::{FileHeader64, PF_W, PT_LOAD, SHN_UNDEF, SHT_DYNSYM, SHT_SYMTAB};
use object::read::elf::{FileHeader, ProgramHeader, Sym};
use object::{Endianness, ReadCache};

#[cfg(target_arch = "x86_64")]
const MACHINE: object::elf::Machine = object::elf::EM_X86_64;
#[cfg(target_arch = "aarch64")]
const MACHINE: object::elf::Machine = object::elf::EM_AARCH64;

pub struct Elf {
    /// Wanted symbols found, by name: their address before relocation.
    pub symbols: HashMap<&'static str, u64>,
    /// The lowest `PT_LOAD` address (page-aligned): where the file's offset 0 is mapped, before relocation.
    pub base: u64,
    /// Where the last writable `PT_LOAD` (data + `.bss`) ends, before relocation.
    pub writable_end: u64,
}

/// The `wanted` symbols of the ELF `file` (`path` names it in errors): `.dynsym`'s,
/// and then `.symtab`'s unless those found are `enough` (an unstripped libpython's
/// `.symtab` takes milliseconds to read).
pub fn read(
    file: File,
    path: &str,
    wanted: &[&'static str],
    enough: impl Fn(&HashMap<&'static str, u64>) -> bool,
) -> Result<Elf, String> {
    let data = ReadCache::new(file);
    let bad = |e: object::Error| format!("{path} is not an ELF file jupdb can read: {e}");
    let header = FileHeader64::<Endianness>::parse(&data).map_err(bad)?;
    let endian = header.endian().map_err(bad)?;
    if header.e_machine(endian) != MACHINE {
        return Err(format!(
            "{path} is for another machine (e_machine {})",
            header.e_machine(endian).0
        ));
    }
    let mut base = u64::MAX;
    let mut writable_end = 0;
    for segment in header.program_headers(endian, &data).map_err(bad)? {
        if segment.p_type(endian) != PT_LOAD {
            continue;
        }
        base = base.min(segment.p_vaddr(endian) & !0xfff);
        if segment.p_flags(endian).0 & PF_W.0 != 0 {
            writable_end = writable_end.max(segment.p_vaddr(endian) + segment.p_memsz(endian));
        }
    }
    let sections = header.sections(endian, &data).map_err(bad)?;
    let mut symbols = HashMap::new();
    for kind in [SHT_DYNSYM, SHT_SYMTAB] {
        let table = sections.symbols(endian, &data, kind).map_err(bad)?;
        for symbol in table.iter() {
            if symbol.st_shndx(endian) == SHN_UNDEF {
                continue;
            }
            let Ok(name) = table.symbol_name(endian, symbol) else {
                continue;
            };
            if let Some(w) = wanted.iter().find(|w| w.as_bytes() == name) {
                symbols.entry(*w).or_insert(symbol.st_value(endian));
            }
        }
        if enough(&symbols) {
            break;
        }
    }
    Ok(Elf {
        symbols,
        base: if base == u64::MAX { 0 } else { base },
        writable_end,
    })
}
