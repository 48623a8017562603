"""Scanned attachments: each dossier's files, found and hashed before the gate, copied into the target's store.

A dossier source names its files in its batch configuration (``[sources.attachments]``): a column whose cells
list paths (several separated by ``;``), or a folder per dossier code (``folder = "scans/{dossier_code}/"``, every
file in it). Relative paths are read from the source file's folder (a SQL source: the batch file's folder); a path
in a cell leading out of that folder (``..``, an absolute path, a link), or a link leading out of a dossier's
folder, is refused as unreadable: a source's cells are data and name no file elsewhere on the machine.

Pass 1 (:class:`~handover.attachments.check.AttachmentCheck`, in the main process, before a chunk is mapped)
finds and hashes every file (SHA-256) and puts the readable ones in the chunk's ``attachments`` column (a JSON
list); it adds the findings

* ``attachment_missing``: a named file, or a dossier's folder, is not there;
* ``attachment_unreadable``: it is there but cannot be read (permissions, a folder where a file was named);
* ``attachment_duplicate_content``: a file has the same SHA-256 as a file read before it in the batch under
  another name or for another dossier (a warning: a scan filed twice, or with the wrong dossier).

``required`` decides their severity. ``false``: warnings, the dossier loads with the files there are; ``true``:
every named file and at least one must be there; a number ``n``: at least ``n`` readable files. A dossier short of
its requirement gets error findings, so the validate stage quarantines it (the ledger keeps the reason): it is
never loaded without its required files, and the gate counts it like any other error. Supply the files and load
it in a new batch (or roll the batch back and run it again).

Pass 2 (:class:`~handover.attachments.store.AttachmentStore`, called by the loader inside each chunk's
transaction) copies the files of the dossiers the chunk loads into the store and returns their manifest rows
(``dossier_attachments``), committed with the chunk. The layout is one folder per new commune and dossier::

    <store>/<new province>/<new commune>/<dossier code>/<first 12 hex digits of the SHA-256>-<file name>

(file and dossier names reduced to letters, digits, ``.``, ``-``, ``_`` and spaces; a dossier code that had to
be changed gets ``~`` and 8 hex digits of its own SHA-256, so two codes never share a folder). The name is derived
from the content, so a copy is crash-safe and never made twice:

1. the path is appended to the batch's journal (``<store>/.handover/journal/<batch>.txt``, fsync'd) first;
2. a file already at the final name with the right SHA-256 is used as it is (a re-run after a crash);
3. otherwise the file is copied to a temporary name (``<store>/.handover/tmp/<batch>/``), hashed as it is copied
   (a file that changed since pass 1 stops the load: :class:`~handover.errors.LoadError`), fsync'd, and renamed
   to its final name (atomic), then the folder is fsync'd.

Files are written owner-only (0600, folders 0700: scans of ID cards and forms are personal data); give the
service that serves them access explicitly. A crash leaves at most a temporary file, removed when the batch runs
again (:meth:`~handover.attachments.store.AttachmentStore.open`), and files of a chunk that did not commit, which
the re-run finds in place. At the end of the batch, and by a rollback,
every journaled file that no manifest row names is removed (:func:`handover.target.attachments.prune`): no orphan
stays. The manifest is not part of the dossier's content hash nor of the loaded-set fingerprint; ``handover db
verify`` re-hashes the stored files (:func:`handover.target.attachments.verify_files`).

The package: :mod:`~handover.attachments.files` (a found file, where the store keeps it, its SHA-256),
:mod:`~handover.attachments.check` (pass 1) and :mod:`~handover.attachments.store` (pass 2).
"""
