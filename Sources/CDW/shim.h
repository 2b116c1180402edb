#ifndef REPRO_ANALYZE_CDW_SHIM_H
#define REPRO_ANALYZE_CDW_SHIM_H
#include <elfutils/libdwfl.h>
#include <elfutils/libdw.h>
#include <dwarf.h>
#include <gelf.h>
#include <libelf.h>
#endif
