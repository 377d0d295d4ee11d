"""`music`: a shared catalogue of songs, albums and artists, and each user's library,
playlists and play history."""

from __future__ import annotations

import datetime as dt
import heapq
import random
from typing import Any

from skillbank.worlds.apps.context import CallContext
from skillbank.worlds.base import ApiError
from skillbank.worlds.engine.api import (
    NOW,
    NOW_ISO,
    AppDef,
    Param,
    not_found,
    paginate,
    public,
    require_owner,
    sort_param,
    sort_rows,
    stable_id,
)

APP = AppDef(
    "music",
    "Music streaming: search songs, albums and artists; like and follow; build playlists; see your play history.",
)
# The catalogue tables are indexed by artist so an artist's songs/albums are a fast lookup.
TABLES = {
    "artists": None,
    "albums": "artist_id",
    "songs": "artist_id",
    "liked_songs": "user_id",
    "liked_albums": "user_id",
    "followed_artists": "user_id",
    "playlists": "owner_id",
    "history": "user_id",
}

GENRES = ("pop", "rock", "jazz", "hip-hop", "electronic", "folk", "classical", "r&b", "country", "indie")
_ADJ = (
    "Velvet", "Paper", "Golden", "Silent", "Electric", "Hollow", "Crimson", "Quiet", "Neon", "Wild",
    "Broken", "Silver", "Midnight", "Distant", "Amber", "Restless", "Gentle", "Burning", "Frozen", "Lucky",
    "Northern", "Painted", "Secret", "Sunday", "Tidal", "Violet", "Wandering", "Young", "Faded", "Open",
)
_NOUN = (
    "Harbour", "Lanterns", "Skyline", "Rivers", "Echoes", "Satellite", "Garden", "Highway", "Letters", "Mirrors",
    "Engines", "Horizon", "Orchard", "Signals", "Thunder", "Windows", "Canyon", "Embers", "Feathers", "Islands",
    "Comets", "Shadows", "Tides", "Voices", "Meadow", "Parade", "Static", "Rooftops", "Compass", "Daylight",
)
_ARTIST_FIRST = ("Nova", "Juno", "Cass", "Remy", "Tove", "Ezra", "Lux", "Marlo", "Sable", "Arlo", "Indra", "Koa")
_ARTIST_LAST = ("Reyes", "Vance", "Holm", "Achebe", "Marchetti", "Sato", "Delacroix", "Okoro", "Brandt", "Lowe")
_BAND_NOUN = ("Tides", "Foxes", "Lanterns", "Orbits", "Pilots", "Cartographers", "Satellites", "Owls", "Drifters", "Harbours")
_BAND_ADJ = ("Quiet", "Electric", "Northern", "Paper", "Violet", "Restless", "Golden", "Hollow", "Midnight", "Amber")
PLAYLIST_TITLES = (
    "Road trip", "Morning run", "Focus", "Sunday chill", "Dinner party", "Throwbacks", "Workout",
    "Rainy day", "Study", "Party mix", "Sleep", "Cooking",
)


def _unique_title(rng: random.Random, used: set[str]) -> str:
    while True:
        form = rng.random()
        a, n = rng.choice(_ADJ), rng.choice(_NOUN)
        t = f"{a} {n}" if form < 0.6 else (f"The {a} {n}" if form < 0.8 else f"{n} of {rng.choice(_NOUN)}")
        if t not in used:
            used.add(t)
            return t


def seed(b: Any, population: Any, rng: random.Random) -> None:
    used_names: set[str] = set()
    used_titles: set[str] = set()
    songs: list[dict[str, Any]] = []
    albums: list[dict[str, Any]] = []
    artists: list[dict[str, Any]] = []
    for i in range(36):
        while True:
            name = (
                f"{rng.choice(_ARTIST_FIRST)} {rng.choice(_ARTIST_LAST)}"
                if rng.random() < 0.5
                else f"The {rng.choice(_BAND_ADJ)} {rng.choice(_BAND_NOUN)}"
            )
            if name not in used_names:
                used_names.add(name)
                break
        aid = stable_id("artist", i)
        genre = GENRES[i % len(GENRES)]
        artists.append({"id": aid, "name": name, "genre": genre, "follower_count": rng.randrange(200, 90000)})
        for j in range(rng.randrange(2, 4)):
            alid = stable_id("album", i, j)
            released = dt.date(1978, 1, 1) + dt.timedelta(days=rng.randrange(0, 17500))
            title = _unique_title(rng, used_titles)
            song_ids = []
            for k in range(rng.randrange(5, 11)):
                sid = stable_id("song", i, j, k)
                song_ids.append(sid)
                songs.append(
                    {
                        "id": sid,
                        "title": _unique_title(rng, used_titles),
                        "artist_id": aid,
                        "artist_name": name,
                        "album_id": alid,
                        "album_title": title,
                        "genre": genre,
                        "duration_seconds": rng.randrange(110, 430),
                        "release_date": released.isoformat(),
                        "play_count": int(rng.paretovariate(1.2) * 1000) + rng.randrange(0, 1000),
                    }
                )
            albums.append(
                {"id": alid, "title": title, "artist_id": aid, "artist_name": name, "genre": genre,
                 "release_date": released.isoformat(), "song_ids": song_ids}
            )
    for a in artists:
        b.add("music", "artists", a["id"], a)
    for a in albums:
        b.add("music", "albums", a["id"], a)
    for s in songs:
        # precomputed lower-case text keeps catalogue search a single scan
        s["_search"] = f"{s['title']}\n{s['artist_name']}\n{s['album_title']}".lower()
        b.add("music", "songs", s["id"], s)

    by_genre: dict[str, list[dict[str, Any]]] = {}
    for s in songs:
        by_genre.setdefault(s["genre"], []).append(s)

    def pick_songs(favs: list[str], n: int) -> list[dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        while len(out) < n:
            pool = by_genre[rng.choice(favs)] if rng.random() < 0.75 else songs
            s = rng.choice(pool)
            out[s["id"]] = s
        return list(out.values())

    def ago(max_days: int) -> str:
        return (NOW - dt.timedelta(days=rng.randrange(1, max_days), minutes=rng.randrange(0, 1440))).isoformat()

    for person in population.people:
        pid = person.id
        favs = rng.sample(GENRES, 2)
        liked = pick_songs(favs, rng.randrange(12, 40))
        for s in liked:
            rid = stable_id("like", pid, s["id"])
            b.add("music", "liked_songs", rid, {"id": rid, "user_id": pid, "song_id": s["id"], "liked_at": ago(700)})
        for al in rng.sample(albums, rng.randrange(3, 9)):
            rid = stable_id("likealbum", pid, al["id"])
            b.add("music", "liked_albums", rid, {"id": rid, "user_id": pid, "album_id": al["id"], "liked_at": ago(700)})
        for ar in rng.sample(artists, rng.randrange(2, 7)):
            rid = stable_id("follow", pid, ar["id"])
            b.add("music", "followed_artists", rid,
                  {"id": rid, "user_id": pid, "artist_id": ar["id"], "followed_at": ago(900)})
        for k, title in enumerate(rng.sample(PLAYLIST_TITLES, rng.randrange(2, 6))):
            rid = stable_id("playlist", pid, k)
            created = ago(500)
            members = pick_songs(favs, rng.randrange(6, 26))
            b.add("music", "playlists", rid, {
                "id": rid, "owner_id": pid, "title": title, "is_public": rng.random() < 0.4,
                "song_ids": [s["id"] for s in members], "created_at": created, "updated_at": created,
            })
        heard = liked + pick_songs(favs, 15)
        for k in range(rng.randrange(30, 70)):
            s = rng.choice(heard)
            rid = stable_id("play", pid, k)
            b.add("music", "history", rid, {"id": rid, "user_id": pid, "song_id": s["id"], "played_at": ago(60)})


# -- helpers ------------------------------------------------------------------------

_SONG = {
    "id": "string", "title": "string", "artist_id": "string", "artist_name": "string", "album_id": "string",
    "album_title": "string", "genre": "string", "duration_seconds": "integer", "release_date": "date",
    "play_count": "integer",
}
_ALBUM = {"id": "string", "title": "string", "artist_id": "string", "artist_name": "string", "genre": "string",
          "release_date": "date", "song_count": "integer"}
_ARTIST = {"id": "string", "name": "string", "genre": "string", "follower_count": "integer"}
_PLAYLIST = {"id": "string", "title": "string", "is_public": "boolean", "song_count": "integer",
             "total_duration_seconds": "integer", "created_at": "datetime", "updated_at": "datetime"}
_SONG_SORTS = ("title", "duration_seconds", "release_date", "play_count")


def _date_param(api: str, name: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value[:10]).isoformat() if len(value) == 10 else dt.datetime.fromisoformat(value).isoformat()
    except ValueError:
        raise ApiError(f"music.{api}: parameter '{name}' must be an ISO date (YYYY-MM-DD), got {value!r}.") from None


def _song(ctx: CallContext, song_id: str) -> dict[str, Any]:
    row = ctx.table("songs").get(song_id)
    if row is None:
        raise not_found("music", "song", song_id)
    return row


def _album(ctx: CallContext, album_id: str) -> dict[str, Any]:
    row = ctx.table("albums").get(album_id)
    if row is None:
        raise not_found("music", "album", album_id)
    return row


def _artist(ctx: CallContext, artist_id: str) -> dict[str, Any]:
    row = ctx.table("artists").get(artist_id)
    if row is None:
        raise not_found("music", "artist", artist_id)
    return row


def _own_playlist(ctx: CallContext, playlist_id: str) -> dict[str, Any]:
    return require_owner("music", ctx.table("playlists").get(playlist_id), "owner_id", ctx.user, "playlist", playlist_id)


def _playlist_out(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    songs = ctx.table("songs")
    return {
        "id": p["id"], "title": p["title"], "is_public": p["is_public"], "song_count": len(p["song_ids"]),
        "total_duration_seconds": sum(songs.ref(s)["duration_seconds"] for s in p["song_ids"]),
        "created_at": p["created_at"], "updated_at": p["updated_at"],
    }


def _album_out(a: dict[str, Any]) -> dict[str, Any]:
    out = public(a, "song_ids")
    out["song_count"] = len(a["song_ids"])
    return out


def _catalogue(ctx: CallContext, name: str):
    """All rows of a catalogue table; the untouched common case skips the overlay merge."""
    t = ctx.table(name)
    return t.base.rows.values() if not t.changes else t.rows()


def _first_sorted(rows: list[dict[str, Any]], sort_by: str | None, allowed: tuple[str, ...], n: int) -> list[dict[str, Any]]:
    """The first `n` rows of `sort_rows(rows, sort_by, allowed)`, without sorting them all."""
    if not sort_by or n * 4 >= len(rows):
        return sort_rows(rows, sort_by, allowed)[:n]
    sort_rows([], sort_by, allowed)  # validates the field
    key_name = sort_by.lstrip("+-")

    def key(r: dict[str, Any]) -> tuple[bool, Any]:
        return (r.get(key_name) is None, r.get(key_name))

    pick = heapq.nlargest if sort_by.startswith("-") else heapq.nsmallest
    return pick(n, rows, key=key)


def _text_match(q: str | None, *fields: str) -> bool:
    return not q or any(q.lower() in f.lower() for f in fields)


def _find_user_row(ctx: CallContext, table: str, key: str, value: str) -> dict[str, Any] | None:
    for r in ctx.table(table).rows_of(ctx.user):
        if r[key] == value:
            return r
    return None


# -- account and catalogue ----------------------------------------------------------


@APP.api(
    "show_account",
    "Show your music account: email and how many songs, albums, artists and playlists are in your library.",
    response={"email": "string", "liked_songs": "integer", "liked_albums": "integer", "followed_artists": "integer",
              "playlists": "integer"},
)
def show_account(ctx):
    return {
        "email": ctx.person(ctx.user)["email"],
        "liked_songs": len(ctx.table("liked_songs").rows_of(ctx.user)),
        "liked_albums": len(ctx.table("liked_albums").rows_of(ctx.user)),
        "followed_artists": len(ctx.table("followed_artists").rows_of(ctx.user)),
        "playlists": len(ctx.table("playlists").rows_of(ctx.user)),
    }


@APP.api(
    "search_songs",
    "Search the song catalogue. Every filter is optional; the query matches title, artist or album (case-insensitive).",
    [
        Param("query", "string", "Text to find in the song title, artist name or album title.", required=False, nullable=True),
        Param("genre", "string", "Only songs of this genre.", required=False, nullable=True, choices=GENRES),
        Param("artist_id", "string", "Only songs by this artist.", required=False, nullable=True),
        Param("album_id", "string", "Only songs on this album.", required=False, nullable=True),
        Param("min_duration_seconds", "integer", "Only songs at least this long.", required=False, nullable=True, minimum=0),
        Param("max_duration_seconds", "integer", "Only songs at most this long.", required=False, nullable=True, minimum=0),
        Param("released_after", "string", "Only songs released on or after this date (YYYY-MM-DD).", required=False, nullable=True),
        Param("released_before", "string", "Only songs released on or before this date (YYYY-MM-DD).", required=False, nullable=True),
        sort_param(_SONG_SORTS, "-play_count"),
    ],
    response=[_SONG],
    errors=("404 artist or album not found",),
    paginated=True,
)
def search_songs(ctx, query=None, genre=None, artist_id=None, album_id=None, min_duration_seconds=None,
                 max_duration_seconds=None, released_after=None, released_before=None, sort_by="-play_count",
                 page_index=0, page_limit=5):
    after = _date_param("search_songs", "released_after", released_after)
    before = _date_param("search_songs", "released_before", released_before)
    songs = ctx.table("songs")
    if album_id is not None:
        rows = [songs.get(s) for s in _album(ctx, album_id)["song_ids"]]
        if artist_id is not None:
            _artist(ctx, artist_id)
            rows = [r for r in rows if r["artist_id"] == artist_id]
    elif artist_id is not None:
        _artist(ctx, artist_id)
        rows = songs.rows_of(artist_id)
    elif genre is not None:
        # an artist has one genre, so the artist index narrows the scan
        rows = [s for a in _catalogue(ctx, "artists") if a["genre"] == genre for s in songs.rows_of(a["id"])]
    else:
        rows = _catalogue(ctx, "songs")
    q = query.lower() if query else None
    if genre is not None:
        rows = [r for r in rows if r["genre"] == genre]
    if q is not None:
        rows = [r for r in rows if q in r["_search"]]
    if min_duration_seconds is not None:
        rows = [r for r in rows if r["duration_seconds"] >= min_duration_seconds]
    if max_duration_seconds is not None:
        rows = [r for r in rows if r["duration_seconds"] <= max_duration_seconds]
    if after is not None:
        rows = [r for r in rows if r["release_date"] >= after[:10]]
    if before is not None:
        rows = [r for r in rows if r["release_date"] <= before[:10]]
    top = _first_sorted(list(rows), sort_by, _SONG_SORTS, (page_index + 1) * page_limit)
    return [public(r) for r in top[page_index * page_limit :]]


@APP.api("show_song", "Show one song of the catalogue.", [Param("song_id", "string", "The song's id.")],
         response=_SONG, errors=("404 song not found",))
def show_song(ctx, song_id):
    return public(_song(ctx, song_id))


@APP.api(
    "search_albums",
    "Search the album catalogue by text (title or artist), genre or artist.",
    [
        Param("query", "string", "Text to find in the album title or artist name.", required=False, nullable=True),
        Param("genre", "string", "Only albums of this genre.", required=False, nullable=True, choices=GENRES),
        Param("artist_id", "string", "Only albums by this artist.", required=False, nullable=True),
        sort_param(("title", "release_date"), "title"),
    ],
    response=[_ALBUM],
    errors=("404 artist not found",),
    paginated=True,
)
def search_albums(ctx, query=None, genre=None, artist_id=None, sort_by="title", page_index=0, page_limit=5):
    albums = ctx.table("albums")
    if artist_id is not None:
        _artist(ctx, artist_id)
        rows = albums.rows_of(artist_id)
    else:
        rows = _catalogue(ctx, "albums")
    out = [r for r in rows if (genre is None or r["genre"] == genre) and _text_match(query, r["title"], r["artist_name"])]
    out = sort_rows(out, sort_by, ("title", "release_date"))
    return [_album_out(r) for r in paginate(out, page_index, page_limit)]


@APP.api(
    "show_album",
    "Show one album with its track list (song ids in track order).",
    [Param("album_id", "string", "The album's id.")],
    response=_ALBUM | {"song_ids": "list[string]"},
    errors=("404 album not found",),
)
def show_album(ctx, album_id):
    a = _album(ctx, album_id)
    return _album_out(a) | {"song_ids": list(a["song_ids"])}


@APP.api(
    "search_artists",
    "Search artists by name or genre.",
    [
        Param("query", "string", "Text to find in the artist's name.", required=False, nullable=True),
        Param("genre", "string", "Only artists of this genre.", required=False, nullable=True, choices=GENRES),
        sort_param(("name", "follower_count"), "name"),
    ],
    response=[_ARTIST],
    paginated=True,
)
def search_artists(ctx, query=None, genre=None, sort_by="name", page_index=0, page_limit=5):
    rows = [r for r in _catalogue(ctx, "artists") if (genre is None or r["genre"] == genre) and _text_match(query, r["name"])]
    rows = sort_rows(rows, sort_by, ("name", "follower_count"))
    return [public(r) for r in paginate(rows, page_index, page_limit)]


@APP.api(
    "show_artist",
    "Show one artist with the ids of their albums.",
    [Param("artist_id", "string", "The artist's id.")],
    response=_ARTIST | {"album_ids": "list[string]"},
    errors=("404 artist not found",),
)
def show_artist(ctx, artist_id):
    a = _artist(ctx, artist_id)
    return public(a) | {"album_ids": [al["id"] for al in ctx.table("albums").rows_of(artist_id)]}


# -- library: liked songs, liked albums, followed artists ---------------------------


@APP.api(
    "show_liked_songs",
    "List the songs you have liked, most recently liked first by default.",
    [
        Param("genre", "string", "Only liked songs of this genre.", required=False, nullable=True, choices=GENRES),
        sort_param(("liked_at", *_SONG_SORTS), "-liked_at"),
    ],
    response=[_SONG | {"liked_at": "datetime"}],
    paginated=True,
)
def show_liked_songs(ctx, genre=None, sort_by="-liked_at", page_index=0, page_limit=5):
    songs = ctx.table("songs")
    rows = []
    for like in ctx.table("liked_songs").rows_of(ctx.user):
        s = songs.get(like["song_id"])
        if genre is None or s["genre"] == genre:
            rows.append(public(s) | {"liked_at": like["liked_at"]})
    rows = sort_rows(rows, sort_by, ("liked_at", *_SONG_SORTS))
    return paginate(rows, page_index, page_limit)


@APP.api("like_song", "Add a song to your liked songs.", [Param("song_id", "string", "The song's id.")],
         response={"message": "string"}, errors=("404 song not found", "409 the song is already liked"), mutates=True)
def like_song(ctx, song_id):
    _song(ctx, song_id)
    if _find_user_row(ctx, "liked_songs", "song_id", song_id):
        raise ApiError(f"music.like_song: song {song_id!r} is already in your liked songs.")
    rid = ctx.new_id("like")
    ctx.table("liked_songs").insert(rid, {"id": rid, "user_id": ctx.user, "song_id": song_id, "liked_at": NOW_ISO})
    return {"message": "Song liked."}


@APP.api("unlike_song", "Remove a song from your liked songs.", [Param("song_id", "string", "The song's id.")],
         response={"message": "string"}, errors=("404 song not found or not liked",), mutates=True)
def unlike_song(ctx, song_id):
    _song(ctx, song_id)
    row = _find_user_row(ctx, "liked_songs", "song_id", song_id)
    if row is None:
        raise ApiError(f"music.unlike_song: song {song_id!r} is not in your liked songs (not found).")
    ctx.table("liked_songs").delete(row["id"])
    return {"message": "Song unliked."}


@APP.api(
    "show_liked_albums",
    "List the albums you have liked, most recently liked first by default.",
    [sort_param(("liked_at", "title", "release_date"), "-liked_at")],
    response=[_ALBUM | {"liked_at": "datetime"}],
    paginated=True,
)
def show_liked_albums(ctx, sort_by="-liked_at", page_index=0, page_limit=5):
    albums = ctx.table("albums")
    rows = [_album_out(albums.get(r["album_id"])) | {"liked_at": r["liked_at"]} for r in ctx.table("liked_albums").rows_of(ctx.user)]
    rows = sort_rows(rows, sort_by, ("liked_at", "title", "release_date"))
    return paginate(rows, page_index, page_limit)


@APP.api("like_album", "Add an album to your liked albums.", [Param("album_id", "string", "The album's id.")],
         response={"message": "string"}, errors=("404 album not found", "409 the album is already liked"), mutates=True)
def like_album(ctx, album_id):
    _album(ctx, album_id)
    if _find_user_row(ctx, "liked_albums", "album_id", album_id):
        raise ApiError(f"music.like_album: album {album_id!r} is already in your liked albums.")
    rid = ctx.new_id("likealbum")
    ctx.table("liked_albums").insert(rid, {"id": rid, "user_id": ctx.user, "album_id": album_id, "liked_at": NOW_ISO})
    return {"message": "Album liked."}


@APP.api("unlike_album", "Remove an album from your liked albums.", [Param("album_id", "string", "The album's id.")],
         response={"message": "string"}, errors=("404 album not found or not liked",), mutates=True)
def unlike_album(ctx, album_id):
    _album(ctx, album_id)
    row = _find_user_row(ctx, "liked_albums", "album_id", album_id)
    if row is None:
        raise ApiError(f"music.unlike_album: album {album_id!r} is not in your liked albums (not found).")
    ctx.table("liked_albums").delete(row["id"])
    return {"message": "Album unliked."}


@APP.api(
    "show_followed_artists",
    "List the artists you follow, most recently followed first by default.",
    [sort_param(("followed_at", "name", "follower_count"), "-followed_at")],
    response=[_ARTIST | {"followed_at": "datetime"}],
    paginated=True,
)
def show_followed_artists(ctx, sort_by="-followed_at", page_index=0, page_limit=5):
    artists = ctx.table("artists")
    rows = [public(artists.get(r["artist_id"])) | {"followed_at": r["followed_at"]}
            for r in ctx.table("followed_artists").rows_of(ctx.user)]
    rows = sort_rows(rows, sort_by, ("followed_at", "name", "follower_count"))
    return paginate(rows, page_index, page_limit)


@APP.api("follow_artist", "Follow an artist.", [Param("artist_id", "string", "The artist's id.")],
         response={"message": "string"}, errors=("404 artist not found", "409 already following"), mutates=True)
def follow_artist(ctx, artist_id):
    _artist(ctx, artist_id)
    if _find_user_row(ctx, "followed_artists", "artist_id", artist_id):
        raise ApiError(f"music.follow_artist: you already follow artist {artist_id!r}.")
    rid = ctx.new_id("follow")
    ctx.table("followed_artists").insert(rid, {"id": rid, "user_id": ctx.user, "artist_id": artist_id, "followed_at": NOW_ISO})
    return {"message": "Artist followed."}


@APP.api("unfollow_artist", "Stop following an artist.", [Param("artist_id", "string", "The artist's id.")],
         response={"message": "string"}, errors=("404 artist not found or not followed",), mutates=True)
def unfollow_artist(ctx, artist_id):
    _artist(ctx, artist_id)
    row = _find_user_row(ctx, "followed_artists", "artist_id", artist_id)
    if row is None:
        raise ApiError(f"music.unfollow_artist: you do not follow artist {artist_id!r} (not found).")
    ctx.table("followed_artists").delete(row["id"])
    return {"message": "Artist unfollowed."}


# -- playlists ----------------------------------------------------------------------


@APP.api(
    "show_playlists",
    "List your playlists (summary without songs), optionally filtered by title text or visibility.",
    [
        Param("query", "string", "Text to find in the playlist title.", required=False, nullable=True),
        Param("is_public", "boolean", "Only public (true) or private (false) playlists.", required=False, nullable=True),
        sort_param(("title", "created_at", "updated_at"), "title"),
    ],
    response=[_PLAYLIST],
    paginated=True,
)
def show_playlists(ctx, query=None, is_public=None, sort_by="title", page_index=0, page_limit=5):
    rows = [r for r in ctx.table("playlists").rows_of(ctx.user)
            if _text_match(query, r["title"]) and (is_public is None or r["is_public"] == is_public)]
    rows = sort_rows(rows, sort_by, ("title", "created_at", "updated_at"))
    return [_playlist_out(ctx, r) for r in paginate(rows, page_index, page_limit)]


@APP.api(
    "show_playlist",
    "Show one playlist (yours, or another user's public one) with its song ids in order.",
    [Param("playlist_id", "string", "The playlist's id.")],
    response=_PLAYLIST | {"song_ids": "list[string]", "owner_email": "string"},
    errors=("404 playlist not found",),
)
def show_playlist(ctx, playlist_id):
    p = ctx.table("playlists").get(playlist_id)
    if p is None or (p["owner_id"] != ctx.user and not p["is_public"]):
        raise not_found("music", "playlist", playlist_id)
    return _playlist_out(ctx, p) | {"song_ids": list(p["song_ids"]), "owner_email": ctx.person(p["owner_id"])["email"]}


@APP.api(
    "show_playlist_songs",
    "List the songs of a playlist (yours, or a public one) in playlist order, each with its 1-based position.",
    [Param("playlist_id", "string", "The playlist's id.")],
    response=[_SONG | {"position": "integer"}],
    errors=("404 playlist not found",),
    paginated=True,
)
def show_playlist_songs(ctx, playlist_id, page_index=0, page_limit=5):
    p = ctx.table("playlists").get(playlist_id)
    if p is None or (p["owner_id"] != ctx.user and not p["is_public"]):
        raise not_found("music", "playlist", playlist_id)
    songs = ctx.table("songs")
    start = page_index * page_limit
    ids = p["song_ids"][start : start + page_limit]
    return [public(songs.get(s)) | {"position": start + i + 1} for i, s in enumerate(ids)]


@APP.api(
    "create_playlist",
    "Create a playlist, optionally with songs. Titles are unique among your playlists.",
    [
        Param("title", "string", "Title.", max_length=100),
        Param("is_public", "boolean", "Visible to other users.", required=False, default=False),
        Param("song_ids", "list[string]", "Songs to start with, in order (no duplicates).", required=False, nullable=True),
    ],
    response={"playlist_id": "string"},
    errors=("404 song not found", "409 you already have a playlist with this title"),
    mutates=True,
)
def create_playlist(ctx, title, is_public=False, song_ids=None):
    if not title.strip():
        raise ApiError("music.create_playlist: parameter 'title' must not be empty.")
    if any(r["title"].lower() == title.strip().lower() for r in ctx.table("playlists").rows_of(ctx.user)):
        raise ApiError(f"music.create_playlist: you already have a playlist titled {title!r}.")
    ids = list(song_ids or [])
    if len(set(ids)) != len(ids):
        raise ApiError("music.create_playlist: parameter 'song_ids' contains duplicates.")
    for s in ids:
        _song(ctx, s)
    rid = ctx.new_id("playlist")
    ctx.table("playlists").insert(rid, {
        "id": rid, "owner_id": ctx.user, "title": title.strip(), "is_public": is_public, "song_ids": ids,
        "created_at": NOW_ISO, "updated_at": NOW_ISO,
    })
    return {"playlist_id": rid}


@APP.api(
    "rename_playlist",
    "Rename one of your playlists.",
    [Param("playlist_id", "string", "The playlist's id."), Param("title", "string", "The new title.", max_length=100)],
    response={"message": "string"},
    errors=("404 playlist not found", "409 you already have a playlist with this title"),
    mutates=True,
)
def rename_playlist(ctx, playlist_id, title):
    _own_playlist(ctx, playlist_id)
    if not title.strip():
        raise ApiError("music.rename_playlist: parameter 'title' must not be empty.")
    if any(r["title"].lower() == title.strip().lower() and r["id"] != playlist_id for r in ctx.table("playlists").rows_of(ctx.user)):
        raise ApiError(f"music.rename_playlist: you already have a playlist titled {title!r}.")
    ctx.table("playlists").update(playlist_id, title=title.strip(), updated_at=NOW_ISO)
    return {"message": "Playlist renamed."}


@APP.api(
    "set_playlist_visibility",
    "Make one of your playlists public or private.",
    [Param("playlist_id", "string", "The playlist's id."), Param("is_public", "boolean", "True for public, false for private.")],
    response={"message": "string"},
    errors=("404 playlist not found",),
    mutates=True, outbound=lambda a: bool(a.get("is_public")),
)
def set_playlist_visibility(ctx, playlist_id, is_public):
    p = _own_playlist(ctx, playlist_id)
    if p["is_public"] != is_public:
        ctx.table("playlists").update(playlist_id, is_public=is_public, updated_at=NOW_ISO)
    return {"message": "Playlist is now public." if is_public else "Playlist is now private."}


@APP.api(
    "add_song_to_playlist",
    "Add a song to one of your playlists, at the end or at a 1-based position.",
    [
        Param("playlist_id", "string", "The playlist's id."),
        Param("song_id", "string", "The song's id."),
        Param("position", "integer", "1-based position to insert at; default: the end.", required=False, nullable=True, minimum=1),
    ],
    response={"song_count": "integer"},
    errors=("404 playlist or song not found", "409 the song is already in the playlist"),
    mutates=True,
)
def add_song_to_playlist(ctx, playlist_id, song_id, position=None):
    p = _own_playlist(ctx, playlist_id)
    _song(ctx, song_id)
    if song_id in p["song_ids"]:
        raise ApiError(f"music.add_song_to_playlist: song {song_id!r} is already in playlist {playlist_id!r}.")
    ids = list(p["song_ids"])
    ids.insert(len(ids) if position is None else min(position - 1, len(ids)), song_id)
    ctx.table("playlists").update(playlist_id, song_ids=ids, updated_at=NOW_ISO)
    return {"song_count": len(ids)}


@APP.api(
    "remove_song_from_playlist",
    "Remove a song from one of your playlists.",
    [Param("playlist_id", "string", "The playlist's id."), Param("song_id", "string", "The song's id.")],
    response={"song_count": "integer"},
    errors=("404 playlist not found, or the song is not in it",),
    mutates=True, destructive=True,
)
def remove_song_from_playlist(ctx, playlist_id, song_id):
    p = _own_playlist(ctx, playlist_id)
    if song_id not in p["song_ids"]:
        raise ApiError(f"music.remove_song_from_playlist: song {song_id!r} not found in playlist {playlist_id!r}.")
    ids = [s for s in p["song_ids"] if s != song_id]
    ctx.table("playlists").update(playlist_id, song_ids=ids, updated_at=NOW_ISO)
    return {"song_count": len(ids)}


@APP.api(
    "move_song_in_playlist",
    "Move a song of one of your playlists to a new 1-based position (the others shift).",
    [
        Param("playlist_id", "string", "The playlist's id."),
        Param("song_id", "string", "The song's id."),
        Param("position", "integer", "The new 1-based position.", minimum=1),
    ],
    response={"song_ids": "list[string]"},
    errors=("404 playlist not found, or the song is not in it", "422 position beyond the end of the playlist"),
    mutates=True,
)
def move_song_in_playlist(ctx, playlist_id, song_id, position):
    p = _own_playlist(ctx, playlist_id)
    if song_id not in p["song_ids"]:
        raise ApiError(f"music.move_song_in_playlist: song {song_id!r} not found in playlist {playlist_id!r}.")
    if position > len(p["song_ids"]):
        raise ApiError(f"music.move_song_in_playlist: parameter 'position' must be <= {len(p['song_ids'])}, got {position}.")
    ids = [s for s in p["song_ids"] if s != song_id]
    ids.insert(position - 1, song_id)
    if ids != p["song_ids"]:
        ctx.table("playlists").update(playlist_id, song_ids=ids, updated_at=NOW_ISO)
    return {"song_ids": list(ids)}


@APP.api("delete_playlist", "Delete one of your playlists.", [Param("playlist_id", "string", "The playlist's id.")],
         response={"message": "string"}, errors=("404 playlist not found",), mutates=True, destructive=True)
def delete_playlist(ctx, playlist_id):
    _own_playlist(ctx, playlist_id)
    ctx.table("playlists").delete(playlist_id)
    return {"message": "Playlist deleted."}


# -- listening ----------------------------------------------------------------------


@APP.api(
    "show_play_history",
    "List the songs you played, newest first by default, optionally within a time range.",
    [
        Param("since", "string", "Only plays at or after this date or datetime (ISO).", required=False, nullable=True),
        Param("until", "string", "Only plays before this date or datetime (ISO).", required=False, nullable=True),
        sort_param(("played_at",), "-played_at"),
    ],
    response=[{"id": "string", "song_id": "string", "title": "string", "artist_id": "string", "artist_name": "string",
               "genre": "string", "duration_seconds": "integer", "played_at": "datetime"}],
    paginated=True,
)
def show_play_history(ctx, since=None, until=None, sort_by="-played_at", page_index=0, page_limit=5):
    lo = _date_param("show_play_history", "since", since)
    hi = _date_param("show_play_history", "until", until)
    rows = [r for r in ctx.table("history").rows_of(ctx.user)
            if (lo is None or r["played_at"] >= lo) and (hi is None or r["played_at"] < hi)]
    rows = sort_rows(rows, sort_by, ("played_at",))
    songs = ctx.table("songs")
    out = []
    for r in paginate(rows, page_index, page_limit):
        s = songs.get(r["song_id"])
        out.append({"id": r["id"], "song_id": s["id"], "title": s["title"], "artist_id": s["artist_id"],
                    "artist_name": s["artist_name"], "genre": s["genre"], "duration_seconds": s["duration_seconds"],
                    "played_at": r["played_at"]})
    return out


@APP.api(
    "play_song",
    "Play a song: it is added to your play history and its play count goes up by one.",
    [Param("song_id", "string", "The song's id.")],
    response={"message": "string", "play_count": "integer"},
    errors=("404 song not found",),
    mutates=True,
)
def play_song(ctx, song_id):
    s = _song(ctx, song_id)
    rid = ctx.new_id("play")
    ctx.table("history").insert(rid, {"id": rid, "user_id": ctx.user, "song_id": song_id, "played_at": NOW_ISO})
    new = ctx.table("songs").update(song_id, play_count=s["play_count"] + 1)
    return {"message": f"Playing {s['title']} by {s['artist_name']}.", "play_count": new["play_count"]}


@APP.api(
    "show_recommendations",
    "Songs you may like: not yet liked, from the genres of your liked songs and by artists you follow, most played first.",
    response=[_SONG],
    paginated=True,
)
def show_recommendations(ctx, page_index=0, page_limit=5):
    songs = ctx.table("songs")
    liked = {r["song_id"] for r in ctx.table("liked_songs").rows_of(ctx.user)}
    genres = {songs.get(s)["genre"] for s in liked}
    followed = [r["artist_id"] for r in ctx.table("followed_artists").rows_of(ctx.user)]
    pool: dict[str, dict[str, Any]] = {}
    for aid in followed:
        for s in songs.rows_of(aid):
            pool[s["id"]] = s
    for a in _catalogue(ctx, "artists"):
        if a["genre"] in genres:
            for s in songs.rows_of(a["id"]):
                pool[s["id"]] = s
    n = (page_index + 1) * page_limit
    rows = heapq.nsmallest(n, (s for sid, s in pool.items() if sid not in liked), key=lambda s: (-s["play_count"], s["id"]))
    return [public(r) for r in rows[page_index * page_limit :]]
