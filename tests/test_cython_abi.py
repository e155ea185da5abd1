"""The C-level API is a promise: what densecore.kernels exports, it keeps.

tests/data/kernels_capi.json records each exported function (its capsule name
in ``__pyx_capi__`` and the C signature inside), which specialisation each
fused index names, and each enum's members.  A
release may add to it, never remove or change: a consumer compiled against an
older kernels.pxd looks these names and signatures up when it is imported.
After adding to kernels.pxd, run this file as a script to record the additions,
and check in a diff that only adds lines.
"""
import ctypes
import json
from pathlib import Path

import densecore.kernels as kernels

RECORD = Path(__file__).parent / "data" / "kernels_capi.json"
ENUMS = ["Activation", "Loss"]

_capsule_name = ctypes.pythonapi.PyCapsule_GetName
_capsule_name.restype = ctypes.c_char_p
_capsule_name.argtypes = [ctypes.py_object]
_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


def exported_functions():
    return {name: _capsule_name(capsule).decode()
            for name, capsule in sorted(kernels.__pyx_capi__.items())}


def _pointer(name):
    capsule = kernels.__pyx_capi__[name]
    return _capsule_pointer(capsule, _capsule_name(capsule))


def exported_fused():
    # Cython exports each specialisation twice: by its index in the fused type
    # ("__pyx_fuse_0dense_forward") and by its argument types.
    by_pointer = {_pointer(name): name for name in kernels.__pyx_capi__
                  if not name.startswith("__pyx_fuse_")}
    return {name: by_pointer[_pointer(name)] for name in sorted(kernels.__pyx_capi__)
            if name.startswith("__pyx_fuse_")}


def exported_enums():
    # __members__ keeps aliases, so a reused value shows up as a change.
    return {name: {member: int(value)
                   for member, value in getattr(kernels, name).__members__.items()}
            for name in ENUMS}


def recorded():
    return json.loads(RECORD.read_text())


def test_recorded_functions_keep_name_and_signature():
    functions = exported_functions()
    missing = sorted(set(recorded()["functions"]) - set(functions))
    assert not missing, f"removed from the C-level API: {missing}"
    changed = {name: (signature, functions[name])
               for name, signature in recorded()["functions"].items()
               if functions[name] != signature}
    assert not changed, f"signatures changed (recorded, now): {changed}"


def test_fused_indices_keep_their_types():
    # A consumer built against an older kernels.pxd asks for "__pyx_fuse_0..."
    # and passes floats: reordering a fused type would hand it the double body.
    fused = exported_fused()
    assert {name: fused.get(name) for name in recorded()["fused"]} == recorded()["fused"]


def test_recorded_enum_members_keep_their_values():
    enums = exported_enums()
    for name, members in recorded()["enums"].items():
        assert {member: enums[name].get(member) for member in members} == members


def test_enum_values_are_distinct():
    for name, members in exported_enums().items():
        assert len(set(members.values())) == len(members), name


if __name__ == "__main__":
    record = {"functions": exported_functions(), "fused": exported_fused(),
              "enums": exported_enums()}
    RECORD.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {RECORD}: check that its diff only adds")
