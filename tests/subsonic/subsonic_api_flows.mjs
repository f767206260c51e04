// A Subsonic app's session against auralis-server, driven by the npm `subsonic-api`
// package (a client no one here wrote). Run by tests/subsonic.rs:
//
//   node subsonic_api_flows.mjs MODULE_DIR BASE_URL MODE CREDENTIAL...
//
// MODE `token`: CREDENTIAL = user password (u + t + s over GET); MODE `apikey`:
// CREDENTIAL = API key and its user (sent as form POSTs: OpenSubsonic `formPost`).
// Every step asserts what an app relies on; the last line printed is a JSON summary.
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [moduleDir, url, mode, ...cred] = process.argv.slice(2);
const { SubsonicAPI } = await import(pathToFileURL(join(moduleDir, "node_modules/subsonic-api/lib/index.js")));
const user = mode === "token" ? cred[0] : cred[1];
const auth = mode === "token" ? { username: cred[0], password: cred[1] } : { apiKey: cred[0] };
const api = new SubsonicAPI({ url, auth, post: mode === "apikey" });

function check(cond, what, detail) {
  if (!cond) {
    console.log(JSON.stringify({ failed: what, detail }));
    process.exit(1);
  }
}
function ok(res, what) {
  check(res && res.status === "ok", what, res);
  return res;
}
const done = {};

ok(await api.ping(), "ping");
const exts = ok(await api.getOpenSubsonicExtensions(), "extensions").openSubsonicExtensions;
check(exts.some((e) => e.name === "apiKeyAuthentication"), "apiKeyAuthentication listed", exts);
const folders = ok(await api.getMusicFolders(), "getMusicFolders").musicFolders.musicFolder;
check(folders.length === 1, "one music folder", folders);

// Browse: artists -> artist -> album -> songs.
const index = ok(await api.getArtists({}), "getArtists").artists.index;
const band = index.flatMap((i) => i.artist).find((a) => a.name === "Corpus Band");
check(band, "the band is listed", index);
const artist = ok(await api.getArtist({ id: band.id }), "getArtist").artist;
const album = ok(await api.getAlbum({ id: artist.album[0].id }), "getAlbum").album;
check(album.song.length === album.songCount && album.created instanceof Date, "album songs", album);
const song = album.song.find((s) => s.suffix === "flac" && s.samplingRate === 44100);
check(song && song.duration === 7, "a 44.1 kHz FLAC song of 7 s", album.song);
done.browsed = album.song.length;

// Search, lists.
const found = ok(await api.search3({ query: "flac" }), "search3").searchResult3;
check(found.song.some((s) => s.id === song.id), "search finds the song", found);
const all = ok(await api.search3({ query: "", songCount: 500 }), "search3 all").searchResult3;
check(all.song.length === album.song.length, "the empty query walks everything", all.song.length);
const list = ok(await api.getAlbumList2({ type: "alphabeticalByName", size: 10 }), "getAlbumList2").albumList2;
check(list.album.length === 1, "one album", list);
const byYear = ok(await api.getAlbumList2({ type: "byYear", fromYear: 2020, toYear: 2022 }), "byYear").albumList2;
check(byYear.album.length === 1, "the 2021 album by year", byYear);

// Star, rate, scrobble.
ok(await api.star({ id: song.id }), "star");
const starred = ok(await api.getStarred2({}), "getStarred2").starred2;
check(starred.song.length === 1 && starred.song[0].starred instanceof Date, "starred song", starred);
check(starred.album.length === 1 && starred.artist.length === 1, "its album and artist", starred);
ok(await api.setRating({ id: song.id, rating: 5 }), "setRating");
const plays = ok(await api.getSong({ id: song.id }), "getSong").song.playCount;
ok(await api.scrobble({ id: song.id, submission: true, time: Date.now() - 60000 }), "scrobble");
const after = ok(await api.getSong({ id: song.id }), "getSong").song;
check(after.playCount === plays + 1 && after.userRating === 5, "counted and rated", after);
ok(await api.unstar({ id: song.id }), "unstar");
done.scrobbled = after.playCount;

// A playlist made, edited, read, deleted.
const made = ok(await api.createPlaylist({ name: `${mode} npm`, songId: [album.song[0].id, album.song[1].id] }), "createPlaylist").playlist;
check(made.entry.length === 2, "made with two songs", made);
ok(await api.updatePlaylist({ playlistId: made.id, songIdToAdd: [song.id], songIndexToRemove: [1], comment: "edited" }), "updatePlaylist");
const edited = ok(await api.getPlaylist({ id: made.id }), "getPlaylist").playlist;
check(edited.comment === "edited" && edited.entry.map((e) => e.id).join() === [album.song[0].id, song.id].join(), "edited", edited);
ok(await api.deletePlaylist({ id: made.id }), "deletePlaylist");
const left = ok(await api.getPlaylists({}), "getPlaylists").playlists;
check(!(left.playlist || []).some((p) => p.id === made.id), "deleted", left);

// Cover art and a stream played to its end.
const art = await api.getCoverArt({ id: album.coverArt, size: 128 });
const artBytes = new Uint8Array(await art.arrayBuffer());
check(art.status === 200 && artBytes[0] === 0xff && artBytes[1] === 0xd8, "a JPEG thumbnail", art.status);
const dir = mkdtempSync(join(tmpdir(), "subsonic-npm-"));
const streamed = {};
for (const format of ["raw", "wav", "flac"]) {
  const res = await api.stream({ id: song.id, format });
  const body = Buffer.from(await res.arrayBuffer());
  const file = join(dir, `song-${format}.${format === "wav" ? "wav" : "flac"}`);
  writeFileSync(file, body);
  const seconds = parseFloat(execFileSync("ffprobe", ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", file]).toString());
  check(Math.abs(seconds - 7.3) < 0.1, `${format} stream decodes to the track's length`, seconds);
  streamed[format] = { bytes: body.length, seconds };
}
done.streamed = streamed;
done.art_bytes = artBytes.length;

const me = ok(await api.getUser({ username: user }), "getUser").user;
check(me.streamRole === true && me.adminRole === false, "listener roles", me);
console.log(JSON.stringify({ mode, ok: true, ...done }));
