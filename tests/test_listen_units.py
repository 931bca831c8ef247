"""Small pieces of the listening-test code: statistics, AMT CSV shapes, loudness, anchors, sampling."""

from __future__ import annotations

import csv
import math
from datetime import datetime, timezone

import numpy as np
import pyloudnorm
import pytest
from scipy import stats as sps

from bench.errors import BenchError
from bench.listen import stats
from bench.listen.amt_csv import RESULT_COLUMNS, parse_amt_time, read_results
from bench.listen.anchors import make_anchor, mnru
from bench.listen.blinding import TokenMaker
from bench.listen.loudness import normalise
from bench.listen.sampling import ReferencePicker, sample_items


# -- statistics ---------------------------------------------------------------------------------
def test_mos_t_interval_is_the_textbook_one():
    x = [4.0, 4.5, 3.0, 5.0, 3.5, 4.0]
    r = stats.mos_t(x)
    half = sps.t.ppf(0.975, 5) * np.std(x, ddof=1) / math.sqrt(6)
    assert (r.n, r.mean) == (6, pytest.approx(4.0))
    assert (r.ci_low, r.ci_high) == (pytest.approx(4.0 - half), pytest.approx(4.0 + half))
    assert math.isnan(stats.mos_t([3.0]).ci_low)


def test_crowdmos_recovers_variance_components_of_a_simulated_panel():
    rng = np.random.default_rng(0)
    workers, sentences = 80, 80
    w = rng.normal(0, 0.5, workers)
    s = rng.normal(0, 0.3, sentences)
    ratings, who, what = [], [], []
    for i in range(workers):
        for j in range(sentences):
            ratings.append(3.0 + w[i] + s[j] + rng.normal(0, 0.4))
            who.append(f"w{i}")
            what.append(f"s{j}")
    var_w, var_s, var_e = stats.variance_components(ratings, who, what)
    assert var_w == pytest.approx(0.25, rel=0.3)
    assert var_s == pytest.approx(0.09, rel=0.3)
    assert var_e == pytest.approx(0.16, rel=0.1)
    r = stats.mos_crowdmos(ratings, who, what)
    # complete design: var(mean) = s_w^2 / W + s_s^2 / S + s_e^2 / (W S)
    half = 1.959964 * math.sqrt(var_w / workers + var_s / sentences + var_e / (workers * sentences))
    assert r.ci_high - r.mean == pytest.approx(half, rel=1e-5)
    # far wider than the interval that treats 6400 ratings as independent
    assert (r.ci_high - r.ci_low) > 3 * (stats.mos_t(ratings).ci_high - stats.mos_t(ratings).ci_low)


def test_abx_counts_and_tests():
    votes = [1] * 30 + [-1] * 15 + [0] * 5
    r = stats.abx(votes)
    assert (r.n, r.first, r.second, r.no_preference) == (50, 30, 15, 5)
    assert (r.pref_first, r.pref_second, r.pref_np) == (60.0, 30.0, 10.0)
    v = np.array(votes, dtype=float)
    t = v.mean() / (v.std(ddof=1) / math.sqrt(50))
    assert r.p_ttest == pytest.approx(2 * sps.t.sf(t, 49))
    assert r.p_sign == pytest.approx(2 * sum(math.comb(45, k) for k in range(30, 46)) / 2 ** 45)
    assert stats.abx([1, 1, 1]).p_ttest == 0.0 and stats.abx([0, 0]).p_ttest == 1.0
    assert stats.abx([0, 0]).p_sign == 1.0


def test_exact_p_values_and_the_all_same_chance():
    from bench.listen.consistency import chance_all_same
    from bench.report.stats import format_p

    assert [format_p(p) for p in (0.14, 0.066, 0.00481, 3.2e-7, float("nan"))] == \
        ["0.14", "0.066", "0.0048", "3.2e-07", "—"]
    for n in (5, 7, 8, 10):  # all n positions on one side: the two-sided binomial p of n out of n
        assert chance_all_same(n) == pytest.approx(sps.binomtest(n, n, 0.5).pvalue)
    assert chance_all_same(7) > 0.01 > chance_all_same(8)


# -- AMT results shapes ------------------------------------------------------------------------
HEAD = "HITId,AssignmentId,WorkerId,AssignmentStatus,WorkTimeInSeconds,SubmitTime,Input.a1"


def test_answers_in_every_amt_shape(tmp_path):
    path = tmp_path / "Batch_1_batch_results.csv"
    path.write_text(
        f"{HEAD},Answer.q1,Answer.q2.A,Answer.q2.B,Answer.taskAnswers,Answer.comment\n"
        'H1,A1,W1,Submitted,61,Fri Nov 01 08:50:20 PDT 2019,https://x/a.wav,B,true,false,,"two\nlines"\n'
        'H1,A2,W2,Approved,,2019-11-01T16:00:00Z,https://x/a.wav,,,,"[{""q1"": ""NP"", ""q3"": {""4.5"": true}}]",\n',
        encoding="utf-8")
    one, two = read_results(path)
    assert one.answers["q1"] == "B" and one.answers["q2"] == "A" and one.answers["comment"] == "two\nlines"
    assert one.work_seconds == 61 and one.inputs == {"a1": "https://x/a.wav"}
    assert two.answers["q1"] == "NP" and two.answers["q3"] == "4.5" and two.work_seconds is None
    assert one.submit_time == datetime(2019, 11, 1, 15, 50, 20, tzinfo=timezone.utc)
    assert two.submit_time > one.submit_time


def test_not_an_amt_file(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(BenchError, match="not an AMT batch results file"):
        read_results(path)
    assert parse_amt_time("garbage") is None


# -- audio ------------------------------------------------------------------------------------
def test_loudness_target_peak_ceiling_and_silence():
    rng = np.random.default_rng(1)
    sr = 16000
    speechy = (0.05 * rng.standard_normal(sr * 2)).astype(np.float32)
    out = normalise(speechy, sr, -26.0, -1.0)
    assert pyloudnorm.Meter(sr).integrated_loudness(out.audio.astype(np.float64)) == pytest.approx(-26.0, abs=0.05)
    assert not out.peak_limited
    clicks = np.zeros(sr * 2, dtype=np.float32)
    clicks[::4000] = 0.5  # loud peaks, little loudness: the ceiling wins
    limited = normalise(clicks, sr, -26.0, -1.0)
    assert limited.peak_limited and np.max(np.abs(limited.audio)) == pytest.approx(10 ** (-1 / 20), rel=1e-5)
    assert limited.lufs_after < -26.0
    silent = normalise(np.zeros(100, dtype=np.float32), sr)
    assert not np.any(silent.audio) and silent.lufs_before == -math.inf
    short = normalise(speechy[:1600], sr)  # 0.1 s: too short for BS.1770 gating, still scaled
    assert np.isfinite(short.lufs_after) and short.lufs_after == pytest.approx(-26.0)


def test_mnru_noise_sits_q_db_below_the_signal():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(200000)
    y = mnru(x, 5.0, rng)
    snr = 10 * math.log10(np.sum(x ** 2) / np.sum((y - x) ** 2))
    assert snr == pytest.approx(5.0, abs=0.1)
    a, b = make_anchor(x[:16000], 16000, seed=3), make_anchor(x[:16000], 16000, seed=3)
    np.testing.assert_array_equal(a, b)


# -- sampling and names -------------------------------------------------------------------------
def test_sampling_spreads_mixtures_and_is_seeded():
    items = {(f"m{i}", j) for i in range(5) for j in range(2)}
    picks = sample_items(items, 7, np.random.default_rng(0))
    assert len(set(picks)) == 7 and len({m for m, _ in picks[:5]}) == 5
    assert picks == sample_items(items, 7, np.random.default_rng(0))
    with pytest.raises(BenchError, match="only 10"):
        sample_items(items, 11, np.random.default_rng(0))


def test_reference_is_another_utterance_of_the_same_speaker():
    natural = {("11-1-0001_22-1-0001", 0), ("11-1-0001_22-1-0001", 1), ("11-1-0002_33-1-0001", 0),
               ("44-1-0001_33-1-0001", 0)}
    pick = ReferencePicker(natural, np.random.default_rng(0))
    assert pick(("11-1-0001_22-1-0001", 0)) == ("11-1-0002_33-1-0001", 0)
    assert pick(("11-1-0001_22-1-0001", 1)) == ("11-1-0001_22-1-0001", 1)  # speaker 22 has nothing else
    # the same utterance in another mixture is not "another utterance"
    assert pick(("44-1-0001_33-1-0001", 0)) == ("44-1-0001_33-1-0001", 0)


def test_tokens_are_unique_and_seeded():
    one, two = TokenMaker(5), TokenMaker(5)
    tokens = [one() for _ in range(500)]
    assert len(set(tokens)) == 500 and tokens[:3] == [two() for _ in range(3)]
    assert all(len(t) == 16 and t.isalnum() and t.islower() and not t[0].isdigit() for t in tokens)


def test_result_columns_are_the_header_amt_writes():
    """The fixed columns of a batch results download, as AMT's requester site writes them (one header line)."""
    amt_header = ('"HITId","HITTypeId","Title","Description","Keywords","Reward","CreationTime","MaxAssignments",'
                  '"RequesterAnnotation","AssignmentDurationInSeconds","AutoApprovalDelayInSeconds","Expiration",'
                  '"NumberOfSimilarHITs","LifetimeInSeconds","AssignmentId","WorkerId","AssignmentStatus",'
                  '"AcceptTime","SubmitTime","AutoApprovalTime","ApprovalTime","RejectionTime","RequesterFeedback",'
                  '"WorkTimeInSeconds","LifetimeApprovalRate","Last30DaysApprovalRate","Last7DaysApprovalRate"')
    assert RESULT_COLUMNS == next(csv.reader([amt_header]))
