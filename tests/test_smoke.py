from samples.models import Sample


def test_sample_gets_accession_and_sprec(make_sample):
    sample = make_sample()
    assert sample.accession.startswith("EXO-")
    assert sample.sprec_code == "PL2-PED-A-A-A-B-D"
    assert Sample.objects.count() == 1
