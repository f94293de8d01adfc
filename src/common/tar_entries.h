// Reading tar entries with libarchive, names as bytes.
#pragma once

#include <archive.h>

namespace sockerless {

// archive_read_next_header, where a warning is no failure. libarchive converts a PAX
// record's UTF-8 name to the locale's charset and warns when it cannot (the daemon runs
// in the "C" locale: every non-ASCII name); the entry then carries the name's bytes as
// they were, which is how Go's archive/tar reads them. No locale decides whether an
// archive can be read.
inline int next_tar_entry(struct archive* a, struct archive_entry** e) {
  int rc = archive_read_next_header(a, e);
  return rc == ARCHIVE_WARN ? ARCHIVE_OK : rc;
}

}  // namespace sockerless
