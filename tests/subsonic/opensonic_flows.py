"""A Subsonic app's session against auralis-server, driven by py-opensonic (PyPI),
a client library no one here wrote. Run by tests/subsonic.rs:

    python3 opensonic_flows.py BASE_URL PORT MODE CREDENTIAL...

MODE `token`: CREDENTIAL = user password (py-opensonic logs in with u + t + s, the
salted md5 token); MODE `apikey`: CREDENTIAL = the OpenSubsonic API key. Each step
asserts what the app relies on; the last line printed is a JSON summary. Exit 0 only
when every step passed.
"""
import asyncio
import json
import os
import subprocess
import sys
import tempfile

import libopensonic


async def read_body(res):
    body = await res.read()
    res.release()
    return body


def ffprobe_duration(path):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path],
        capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def ffmpeg_decoded_seconds(path):
    """Seconds of audio a full decode yields (for chained Ogg, whose container
    duration ffprobe reads from one link only)."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", path, "-f", "s16le", "-ac", "1", "-ar", "8000", "-"],
        capture_output=True, check=True)
    return len(out.stdout) / 2 / 8000


async def flows(conn, mode, user):
    done = {}
    assert await conn.ping(), "ping"
    exts = [e.name for e in await conn.get_open_subsonic_extensions()]
    assert "apiKeyAuthentication" in exts and "formPost" in exts, exts
    if mode == "apikey":
        info = await conn.token_info()
        assert info.username == user, (info, user)
        done["token_info"] = info.username
    # Not get_music_folders(): py-opensonic 10.4.1 reads `musicFolders` as the list
    # itself, where the Subsonic schema (and Navidrome) nest it as
    # `musicFolders.musicFolder`; tests/subsonic.rs checks that shape directly.

    # Browse: artists -> an artist -> its albums -> an album's songs.
    artists = await conn.get_artists()
    names = [a.name for i in artists.index for a in i.artist]
    assert "Corpus Band" in names, names
    band = next(a for i in artists.index for a in i.artist if a.name == "Corpus Band")
    artist = await conn.get_artist(band.id)
    assert artist.album and artist.album[0].name == "Real Encoders", artist
    album = await conn.get_album(artist.album[0].id)
    songs = album.song
    assert len(songs) >= 5 and album.song_count == len(songs), album
    mp3 = next(s for s in songs if s.suffix == "mp3" and s.channel_count == 2 and s.sampling_rate == 44100)
    song = await conn.get_song(mp3.id)
    assert song.title == mp3.title and song.duration == 7, song
    done["browsed"] = {"artists": len(names), "album_songs": len(songs)}

    # The folder view and lists.
    indexes = await conn.get_indexes()
    assert any(a.name == "Corpus Band" for i in indexes.index for a in i.artist), indexes
    directory = await conn.get_music_directory(band.id)
    assert directory.child and directory.child[0].is_dir, directory
    newest = await conn.get_album_list2("newest", size=5)
    assert any(a.id == album.id for a in newest), newest
    by_genre = await conn.get_songs_by_genre("Noise", count=50)
    assert len(by_genre) == len(songs), by_genre
    randoms = await conn.get_random_songs(size=3)
    assert len(randoms) == 3, randoms
    genres = await conn.get_genres()
    assert any(g.value == "Noise" for g in genres), genres

    # Search: a word, and the empty query that walks the library (paged).
    found = await conn.search3("mp3")
    assert mp3.id in [s.id for s in found.song], found
    assert all("MP3" in s.title for s in found.song), found
    assert found.artist == [] and found.album == [], found
    first = await conn.search3("", song_count=2, song_offset=0)
    second = await conn.search3("", song_count=2, song_offset=2)
    assert len(first.song) == 2 and len(second.song) == 2
    assert not {s.id for s in first.song} & {s.id for s in second.song}
    done["searched"] = len(found.song)

    # Star, rate and scrobble.
    assert await conn.star(sids=[mp3.id])
    starred = await conn.get_starred2()
    assert [s.id for s in starred.song] == [mp3.id] and starred.song[0].starred, starred
    assert await conn.set_rating(mp3.id, 4)
    assert (await conn.get_song(mp3.id)).user_rating == 4
    before = (await conn.get_song(mp3.id)).play_count or 0
    assert await conn.scrobble(mp3.id, submission=False)
    playing = await conn.get_now_playing()
    assert any(e.id == mp3.id and e.username == user for e in playing), playing
    assert await conn.scrobble(mp3.id)
    after = (await conn.get_song(mp3.id)).play_count
    assert after == before + 1, (before, after)
    assert await conn.unstar(sids=[mp3.id])
    assert not (await conn.get_starred2()).song
    done["scrobbled"] = after

    # A playlist: made, edited (renamed, a song added, one removed), read, deleted.
    name = f"{mode} mix"
    assert await conn.create_playlist(name=name, song_ids=[songs[0].id, songs[1].id])
    made = next(p for p in await conn.get_playlists() if p.name == name)
    assert made.song_count == 2, made
    assert await conn.update_playlist(made.id, name=name + " 2", song_ids_to_add=[songs[2].id],
                                      song_indices_to_remove=[0])
    edited = await conn.get_playlist(made.id)
    assert edited.name == name + " 2" and [e.id for e in edited.entry] == [songs[1].id, songs[2].id], edited
    mine = await conn.get_playlists()
    assert [p.id for p in mine] == [made.id], mine
    assert await conn.delete_playlist(made.id)
    done["playlist"] = edited.name

    # The play queue another device restores.
    assert await conn.save_play_queue([songs[0].id, songs[1].id], current=songs[1].id, position=1500)
    queue = await conn.get_play_queue()
    assert queue.current == songs[1].id and queue.position == 1500 and len(queue.entry) == 2, queue

    # Cover art, whole and as a thumbnail.
    assert song.cover_art, song
    art = await read_body(await conn.get_cover_art(song.cover_art))
    thumb = await read_body(await conn.get_cover_art(album.cover_art, size=64))
    assert art[:3] == b"\xff\xd8\xff" and thumb[:3] == b"\xff\xd8\xff", (art[:4], thumb[:4])
    done["cover_bytes"] = [len(art), len(thumb)]

    # Streams played to the end: the file, and the track made as WAV, FLAC and Opus.
    streamed = {}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, suffix in ((None, "mp3"), ("wav", "wav"), ("flac", "flac"), ("opus", "opus")):
            body = await read_body(await conn.stream(mp3.id, tformat=fmt, max_bit_rate=96 if fmt == "opus" else 0))
            path = os.path.join(tmp, f"s.{suffix}")
            with open(path, "wb") as f:
                f.write(body)
            seconds = ffmpeg_decoded_seconds(path) if fmt == "opus" else ffprobe_duration(path)
            assert abs(seconds - 7.3) < 0.1, (fmt, seconds)
            streamed[fmt or "raw"] = {"bytes": len(body), "seconds": round(seconds, 3)}
        raw = await read_body(await conn.download(mp3.id))
        assert len(raw) == mp3.size, (len(raw), mp3.size)
    done["streamed"] = streamed

    user_info = await conn.get_user(user)
    assert user_info.stream_role and not user_info.admin_role, user_info
    return done


async def main():
    base, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if mode == "token":
        user, password = sys.argv[4], sys.argv[5]
        conn = libopensonic.AsyncConnection(base, username=user, password=password, port=port,
                                            app_name="opensonic-flows")
    else:
        user = sys.argv[5]
        conn = libopensonic.AsyncConnection(base, api_key=sys.argv[4], port=port,
                                            app_name="opensonic-flows")
    try:
        done = await flows(conn, mode, user)
    finally:
        await conn.cleanup()
    print(json.dumps({"mode": mode, "ok": True, **done}))


asyncio.run(main())
