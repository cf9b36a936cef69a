"""Settings: the contract's defaults, and a loud failure naming any malformed variable."""

from __future__ import annotations

import dataclasses

import pytest

from engine.errors import SettingsError
from engine.settings import (
    TOPIC_ROLES,
    Variant,
    load_settings,
    replace,
    settings_env,
    unknown_variables,
)


def test_defaults_match_the_contract_table() -> None:
    settings = load_settings({})
    assert settings.broker == "kafka://localhost:9092"
    assert settings.app_id == "personalization-engine"
    assert settings.web_port == 6066
    assert settings.data_dir == "./engine-data"
    assert settings.store == "memory://"
    assert settings.partitions == 4
    assert settings.top_n == 10
    assert settings.max_event_bytes == 65536
    assert settings.api_token is None
    assert settings.variants == (Variant("learned", 1.0),)
    assert settings.pseudonym_key is None
    assert dict(settings.topics) == {role: role for role in TOPIC_ROLES}
    assert settings.refresh_interval == 0.0


def test_the_contract_topics_have_their_default_names() -> None:
    settings = load_settings({})
    roles = ["clickstream", "catalog", "recommendations", "deadletter"]
    assert [settings.topic(role) for role in roles] == roles


def test_loading_an_explicit_mapping_ignores_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENGINE_TOP_N", "3")
    assert load_settings({}).top_n == 10
    assert load_settings().top_n == 3


@pytest.mark.parametrize(
    ("variable", "raw", "field", "expected"),
    [
        ("ENGINE_BROKER", "kafka://a:1,b:2", "broker", "kafka://a:1,kafka://b:2"),
        ("ENGINE_APP_ID", "shop", "app_id", "shop"),
        ("ENGINE_WEB_PORT", "8080", "web_port", 8080),
        ("ENGINE_DATA_DIR", "/var/engine", "data_dir", "/var/engine"),
        ("ENGINE_STORE", "rocksdb://", "store", "rocksdb://"),
        ("ENGINE_PARTITIONS", "12", "partitions", 12),
        ("ENGINE_TOP_N", " 5 ", "top_n", 5),
        ("ENGINE_MAX_EVENT_BYTES", "1024", "max_event_bytes", 1024),
        ("ENGINE_API_TOKEN", "s3cret", "api_token", "s3cret"),
        ("ENGINE_API_TOKEN", "", "api_token", None),
        ("ENGINE_PSEUDONYM_KEY", "k", "pseudonym_key", "k"),
        ("ENGINE_VARIANTS", "learned:0.5,heuristic:0.5", "variants",
         (Variant("learned", 0.5), Variant("heuristic", 0.5))),
        ("ENGINE_REFRESH_INTERVAL", "30", "refresh_interval", 30.0),
        ("ENGINE_MAX_ID_LENGTH", "64", "max_id_length", 64),
        ("ENGINE_MAX_STRING_LENGTH", "4096", "max_string_length", 4096),
        ("ENGINE_MAX_TAGS", "0", "max_tags", 0),
        ("ENGINE_MAX_NESTING", "8", "max_nesting", 8),
        ("ENGINE_MIN_EVENT_TS", "0", "min_event_ts", 0.0),
        ("ENGINE_MIN_EVENT_TS", "2000-01-01T00:00:00Z", "min_event_ts", 946684800.0),
        ("ENGINE_MAX_EVENT_TS", "2030-01-01", "max_event_ts", 1893456000.0),
        ("ENGINE_MAX_EVENT_TS", "1893456000.5", "max_event_ts", 1893456000.5),
        ("ENGINE_SIMILARITY", "Jaccard", "similarity", "jaccard"),
        ("ENGINE_SIMILARITY_ALPHA", "0.25", "similarity_alpha", 0.25),
        ("ENGINE_PAIR_HALF_LIFE", "3600", "pair_half_life", 3600.0),
        ("ENGINE_SESSION_GAP", "600", "session_gap", 600.0),
    ],
)
def test_each_variable_sets_its_field(variable: str, raw: str, field: str,
                                      expected: object) -> None:
    assert getattr(load_settings({variable: raw}), field) == expected


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("ENGINE_WEB_PORT", "abc"),
        ("ENGINE_WEB_PORT", "0"),
        ("ENGINE_WEB_PORT", "70000"),
        ("ENGINE_PARTITIONS", "0"),
        ("ENGINE_PARTITIONS", "-2"),
        ("ENGINE_PARTITIONS", "1.5"),
        ("ENGINE_TOP_N", "ten"),
        ("ENGINE_MAX_EVENT_BYTES", ""),
        ("ENGINE_VARIANTS", "foo:1"),
        ("ENGINE_VARIANTS", "learned"),
        ("ENGINE_VARIANTS", "learned:x"),
        ("ENGINE_VARIANTS", "learned:-1"),
        ("ENGINE_VARIANTS", "learned:0"),
        ("ENGINE_VARIANTS", "learned:1,learned:1"),
        ("ENGINE_BROKER", "http://x"),
        ("ENGINE_BROKER", "kafka://nohost"),
        ("ENGINE_BROKER", " , "),
        ("ENGINE_BROKER", "kafka://a:notaport"),
        ("ENGINE_BROKER", "kafka://a:0"),
        ("ENGINE_BROKER", "kafka://a:65536"),
        ("ENGINE_BROKER", "kafka://:9092"),
        ("ENGINE_BROKER", "kafka://a:1;b:2"),
        ("ENGINE_BROKER", "kafka://a b:1"),
        ("ENGINE_STORE", "redis://"),
        ("ENGINE_REFRESH_INTERVAL", "-1"),
        ("ENGINE_REFRESH_INTERVAL", "nan"),
        ("ENGINE_LOG_LEVEL", "loud"),
        ("ENGINE_SIMILARITY", "euclid"),
        ("ENGINE_SIMILARITY_ALPHA", "1.5"),
        ("ENGINE_SIMILARITY_ALPHA", "-0.1"),
        ("ENGINE_PAIR_HALF_LIFE", "-60"),
        ("ENGINE_SESSION_GAP", "half an hour"),
        ("ENGINE_TOPIC_CLICKSTREAM", "  "),
        ("ENGINE_MAX_ID_LENGTH", "0"),
        ("ENGINE_MAX_STRING_LENGTH", "1k"),
        ("ENGINE_MAX_TAGS", "-1"),
        ("ENGINE_MAX_NESTING", "0"),
        ("ENGINE_MIN_EVENT_TS", "-1"),
        ("ENGINE_MIN_EVENT_TS", "yesterday"),
        ("ENGINE_MAX_EVENT_TS", "inf"),
        ("ENGINE_MAX_EVENT_TS", "1e20"),
    ],
)
def test_a_malformed_value_raises_settings_error_naming_the_variable(variable: str,
                                                                   raw: str) -> None:
    with pytest.raises(SettingsError, match=rf"^{variable}: "):
        load_settings({variable: raw})


def test_inconsistent_rating_bounds_are_refused() -> None:
    with pytest.raises(SettingsError, match="ENGINE_RATING_MIN"):
        load_settings({"ENGINE_RATING_MIN": "5", "ENGINE_RATING_MAX": "1"})


def test_the_input_limits_default_to_the_documented_values() -> None:
    settings = load_settings({})
    assert (settings.max_id_length, settings.max_string_length, settings.max_tags,
            settings.max_nesting) == (256, 1024, 64, 32)
    assert (settings.min_event_ts, settings.max_event_ts) == (0.0, 4102444800.0)


def test_an_empty_window_of_event_times_is_refused() -> None:
    with pytest.raises(SettingsError, match="ENGINE_MIN_EVENT_TS"):
        load_settings({"ENGINE_MIN_EVENT_TS": "2030-01-01", "ENGINE_MAX_EVENT_TS": "2020-01-01"})


def test_an_empty_app_id_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"^ENGINE_APP_ID: "):
        load_settings({"ENGINE_APP_ID": ""})


def test_a_topic_is_renamed_by_its_variable_and_the_others_keep_their_names() -> None:
    settings = load_settings({"ENGINE_TOPIC_CLICKSTREAM": "shop.clicks"})
    assert settings.topic("clickstream") == "shop.clicks"
    assert settings.topic("recommendations") == "recommendations"


def test_internal_topics_are_prefixed_by_the_app_id() -> None:
    assert load_settings({"ENGINE_APP_ID": "shop"}).internal_topic("item-pairs") \
        == "shop-item-pairs"


def test_settings_are_frozen() -> None:
    settings = load_settings({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.top_n = 3  # type: ignore[misc]


def test_the_topic_names_of_settings_cannot_be_changed_in_place() -> None:
    settings = load_settings({})
    with pytest.raises(TypeError):
        settings.topics["clickstream"] = "elsewhere"  # type: ignore[index]


def test_replace_gives_a_changed_copy_and_leaves_the_original() -> None:
    original = load_settings({})
    changed = replace(original, top_n=3)
    assert (changed.top_n, original.top_n) == (3, 10)


def test_the_similarity_settings_reach_the_item_side_of_the_core() -> None:
    from engine.pipeline import EngineConfig

    limits = EngineConfig.from_settings(load_settings({
        "ENGINE_SIMILARITY": "conditional", "ENGINE_SIMILARITY_ALPHA": "0.3",
        "ENGINE_PAIR_HALF_LIFE": "7200"})).row_limits
    assert (limits.similarity, limits.alpha, limits.pair_half_life) == ("conditional", 0.3, 7200.0)
    default = EngineConfig.from_settings(load_settings({})).row_limits
    assert (default.similarity, default.alpha, default.pair_half_life) == ("conditional", 0.25, 0.0)


def test_the_session_gap_reaches_the_profiles_and_the_sequential_rules_baseline() -> None:
    from engine.evaluation_run import baselines
    from engine.pipeline import EngineConfig

    config = EngineConfig.from_settings(load_settings({"ENGINE_SESSION_GAP": "600"}))
    assert config.profile_limits.session_gap == 600.0
    [rules] = baselines(config, ["sequential_rules"])
    assert rules.session_gap == 600.0  # type: ignore[attr-defined]


def test_an_engine_variable_that_is_no_setting_is_warned_about_with_the_closest_name() -> None:
    env = {"ENGINE_TOPN": "5", "ENGINE_TOPIC_CLICKS": "c", "ENGINE_WEIRD_THING": "1",
           "ENGINE_TOP_N": "5", "ENGINE_TOPIC_CLICKSTREAM": "c", "PATH": "/bin"}
    assert unknown_variables(env) == [
        "ENGINE_TOPIC_CLICKS is not a setting and is ignored; did you mean "
        "ENGINE_TOPIC_CLICKSTREAM?",
        "ENGINE_TOPN is not a setting and is ignored; did you mean ENGINE_TOP_N?",
        "ENGINE_WEIRD_THING is not a setting and is ignored",
    ]
    assert load_settings(env).top_n == 5  # a warning, never an error


def test_every_setting_the_engine_writes_for_a_child_process_is_known() -> None:
    assert unknown_variables(settings_env(load_settings({}))) == []
