//! An AdmissionReview request body, answered as the injector's `POST /mutate` answers it.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sidekey_injector::fuzzing::admission_review(data);
});
